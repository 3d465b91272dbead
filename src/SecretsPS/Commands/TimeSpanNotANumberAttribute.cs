using System.Globalization;
using System.Management.Automation;

namespace SecretsPS.Commands;

/// <summary>
/// Refuses a bare number for a TimeSpan parameter: PowerShell would bind <c>-MaxDuration 5</c> as five ticks (100 ns each),
/// and a run limited to half a microsecond pauses at once, every time. A time span (<c>00:05:00</c>, a TimeSpan object, or a
/// string PowerShell parses as one) passes unchanged, and so does 0.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class TimeSpanNotANumberAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        var value = inputData is PSObject wrapped ? wrapped.BaseObject : inputData;
        // Zero is zero in any unit: "pause before any row" stays writable as -MaxDuration 0.
        if (value is sbyte or byte or short or ushort or int or uint or long or ulong or float or double or decimal
            && Convert.ToDecimal(value, CultureInfo.InvariantCulture) != 0)
            throw new ArgumentTransformationMetadataException(
                Core.Localized.Format(CommandMessages.MaxDurationIsANumber, Convert.ToString(value, CultureInfo.InvariantCulture)));
        return inputData;
    }
}
