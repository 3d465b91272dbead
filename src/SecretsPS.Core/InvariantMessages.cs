using System.Globalization;

namespace SecretsPS.Core;

/// <summary>
/// Makes <see cref="Messages"/> answer in its invariant (English) texts until disposed, on this thread. For text that
/// lands in a contract rather than in front of a person — the cleanup audit trail and its journal (FORMATS.md §6) —
/// which must read the same whatever $PSUICulture the operator runs with.
/// </summary>
internal sealed class InvariantMessages : IDisposable
{
    private readonly CultureInfo _previous;

    private InvariantMessages()
    {
        _previous = CultureInfo.CurrentUICulture;
        CultureInfo.CurrentUICulture = CultureInfo.InvariantCulture;
    }

    public static InvariantMessages Scope() => new();

    public void Dispose() => CultureInfo.CurrentUICulture = _previous;
}
