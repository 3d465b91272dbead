using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace SecretsPS.Core.Data;

/// <summary>
/// Rows per key version, read-only and in the order it was counted. It reads as <c>v1=15000, v2=3</c> wherever a
/// person or a CSV cell sees it (ToString, and each entry when a list view enumerates it), while ConvertTo-Json still
/// gets a map (it is an IDictionary) and code still gets a dictionary.
/// </summary>
public sealed class VersionCounts : IReadOnlyDictionary<string, long>, IDictionary
{
    public static readonly VersionCounts Empty = new(Array.Empty<KeyValuePair<string, long>>());

    private readonly List<KeyValuePair<string, long>> _entries;
    private readonly Dictionary<string, long> _byVersion;

    public VersionCounts(IEnumerable<KeyValuePair<string, long>> counts)
    {
        _entries = counts.ToList();
        _byVersion = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (version, rows) in _entries) _byVersion[version] = rows;
    }

    /// <summary>The same counts, or an empty set for null; an instance is returned as it is.</summary>
    public static VersionCounts From(IEnumerable<KeyValuePair<string, long>>? counts) =>
        counts switch { null => Empty, VersionCounts same => same, _ => new VersionCounts(counts) };

    public long this[string key] => _byVersion[key];
    public IEnumerable<string> Keys => _entries.Select(e => e.Key);
    public IEnumerable<long> Values => _entries.Select(e => e.Value);
    public int Count => _entries.Count;
    public bool ContainsKey(string key) => _byVersion.ContainsKey(key);
    public bool TryGetValue(string key, [MaybeNullWhen(false)] out long value) => _byVersion.TryGetValue(key, out value);
    public IEnumerator<KeyValuePair<string, long>> GetEnumerator() => _entries.GetEnumerator();

    public override string ToString() => string.Join(", ", _entries.Select(Text));

    private static string Text(KeyValuePair<string, long> e) => e.Key + "=" + e.Value.ToString(CultureInfo.InvariantCulture);

    // PowerShell's list and table formatting enumerate a collection through the non-generic enumerator and print each
    // item: a "v1=15000" each, not "[v1, 15000]".
    IEnumerator IEnumerable.GetEnumerator() => _entries.Select(e => new Entry(e.Key, e.Value)).GetEnumerator();

    private sealed class Entry(string version, long rows)
    {
        public string Version { get; } = version;
        public long Rows { get; } = rows;
        public override string ToString() => Text(new(Version, Rows));
    }

    // IDictionary (read-only): ConvertTo-Json writes a dictionary as a JSON object { "v1": 15000 }.
    bool IDictionary.IsFixedSize => true;
    bool IDictionary.IsReadOnly => true;
    ICollection IDictionary.Keys => _entries.Select(e => e.Key).ToArray();
    ICollection IDictionary.Values => _entries.Select(e => e.Value).ToArray();
    object? IDictionary.this[object key]
    {
        get => key is string s && _byVersion.TryGetValue(s, out var n) ? n : null;
        set => throw new NotSupportedException();
    }
    void IDictionary.Add(object key, object? value) => throw new NotSupportedException();
    void IDictionary.Clear() => throw new NotSupportedException();
    bool IDictionary.Contains(object key) => key is string s && _byVersion.ContainsKey(s);
    IDictionaryEnumerator IDictionary.GetEnumerator() => new EntryEnumerator(_entries);
    void IDictionary.Remove(object key) => throw new NotSupportedException();
    bool ICollection.IsSynchronized => false;
    object ICollection.SyncRoot => this;
    void ICollection.CopyTo(Array array, int index)
    {
        foreach (var e in _entries) array.SetValue(new DictionaryEntry(e.Key, e.Value), index++);
    }

    private sealed class EntryEnumerator(List<KeyValuePair<string, long>> entries) : IDictionaryEnumerator
    {
        private int _at = -1;
        public DictionaryEntry Entry => new(entries[_at].Key, entries[_at].Value);
        public object Key => entries[_at].Key;
        public object? Value => entries[_at].Value;
        public object Current => Entry;
        public bool MoveNext() => ++_at < entries.Count;
        public void Reset() => _at = -1;
    }
}
