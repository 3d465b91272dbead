using System.Collections.ObjectModel;

namespace SecretsPS.Core;

/// <summary>
/// A read-only list on an output object that reads as its items joined (<c>v1, v2</c>), so that Export-Csv, which
/// writes a property's ToString(), puts the items in the cell and not the list's type name.
/// </summary>
public sealed class ReadableList<T> : ReadOnlyCollection<T>
{
    private readonly string _separator;

    public ReadableList(IEnumerable<T>? items, string separator = ", ") : base(items?.ToList() ?? new List<T>())
    {
        _separator = separator;
    }

    public override string ToString() => string.Join(_separator, this);
}
