using System.Management.Automation;

namespace SecretsPS.Commands;

/// <summary>
/// A -Provider that names one of <see cref="Core.Data.DatabaseProvider"/>, whatever providers the library has; or is empty,
/// as a CSV's empty Provider cell is: then the connection string decides, as when -Provider is not given.
/// </summary>
public sealed class ValidateProviderNameAttribute : ValidateEnumeratedArgumentsAttribute
{
    protected override void ValidateElement(object element)
    {
        if (element is "") return;
        if (element is not string name || !Enum.GetNames<Core.Data.DatabaseProvider>().Contains(name, StringComparer.OrdinalIgnoreCase))
            throw new ValidationMetadataException(Core.Localized.Format(CommandMessages.ProviderNameInvalid, element,
                string.Join(", ", Enum.GetNames<Core.Data.DatabaseProvider>())));
    }
}
