using System.Collections;
using SecretsPS.Core.Crypto;

namespace SecretsPS.Core.Config;

/// <summary>The text values of one version after the environment overlay, not yet checked. Order is its place in the
/// base order of FORMATS.md §1 (the age order, see <see cref="VersionOrder"/>).</summary>
public sealed record VersionSettings(string Name, string? Key, string? Salt, string? SaltHash, string? Kdf, string? Created, KeySource Source, int Order);

/// <summary>
/// What the key file says, with the environment laid over it (the environment wins). Values are still
/// text here; <see cref="KeyFileDiagnosis"/> judges them once, and <see cref="BuildKeyRing"/> turns them into a <see cref="KeyRing"/>.
/// </summary>
public sealed class KeySettings
{
    private KeySettings(string? active, KeySource activeSource, IReadOnlyList<VersionSettings> versions, IReadOnlyList<string> definedTwice)
    {
        ActiveVersion = active;
        ActiveSource = activeSource;
        Versions = versions;
        NamesDefinedTwice = definedTwice;
    }

    public string? ActiveVersion { get; }
    public KeySource ActiveSource { get; }
    public IReadOnlyList<VersionSettings> Versions { get; }

    /// <summary>Names assigned more than once in the file: which one a reader takes is not defined, so it is an error.</summary>
    public IReadOnlyList<string> NamesDefinedTwice { get; }

    /// <summary>The process environment's variables that belong to the key file.</summary>
    public static IReadOnlyDictionary<string, string> ProcessEnvironment()
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            var name = (string)e.Key;
            if ((name == KeyFileNames.Active || KeyFileNames.TrySplit(name, out _, out _)) && !string.IsNullOrWhiteSpace((string?)e.Value))
                result[name] = (string)e.Value!;
        }
        return result;
    }

    public static KeySettings From(KeyFileDocument document, IReadOnlyDictionary<string, string>? environment)
    {
        var values = new Dictionary<string, (string Value, KeySource Source)>(StringComparer.Ordinal);
        var inFile = new List<string>();
        var inFileSet = new HashSet<string>(StringComparer.Ordinal);
        var environmentOnly = new HashSet<string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var twice = new List<string>();
        var twiceSeen = new HashSet<string>(StringComparer.Ordinal);

        foreach (var (name, value, _) in document.Assignments)
        {
            bool owned = name == KeyFileNames.Active || KeyFileNames.TrySplit(name, out _, out _);
            if (owned && !seen.Add(name) && twiceSeen.Add(name)) twice.Add(name);
            values[name] = (value, KeySource.File);
            if (KeyFileNames.TrySplit(name, out _, out var v) && inFileSet.Add(v)) inFile.Add(v);
        }
        if (environment is not null)
        {
            foreach (var (name, value) in environment.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                if (name != KeyFileNames.Active && !KeyFileNames.TrySplit(name, out _, out _)) continue;
                if (string.IsNullOrWhiteSpace(value)) continue; // an empty variable is unset, not a value that hides the file's
                values[name] = (value, KeySource.Environment);
                if (KeyFileNames.TrySplit(name, out _, out var v) && !inFileSet.Contains(v)) environmentOnly.Add(v);
            }
        }
        // The base order of FORMATS.md §1, which is also each version's Order: see VersionOrder.
        var order = VersionOrder.BaseOrder(inFile, environmentOnly);

        string? Get(string n) => values.TryGetValue(n, out var x) ? x.Value : null;
        var versions = order.Select((v, i) => new VersionSettings(
            v,
            Get(KeyFileNames.Key(v)),
            Get(KeyFileNames.Salt(v)),
            Get(KeyFileNames.SaltHash(v)),
            Get(KeyFileNames.Kdf(v)),
            Get(KeyFileNames.Created(v)),
            values.TryGetValue(KeyFileNames.Key(v), out var k) ? k.Source : KeySource.File,
            i)).ToList();

        values.TryGetValue(KeyFileNames.Active, out var active);
        return new KeySettings(string.IsNullOrWhiteSpace(active.Value) ? null : active.Value.Trim(),
            active.Value is null ? KeySource.File : active.Source, versions, twice);
    }

    /// <summary>Checks everything (<see cref="KeyFileDiagnosis"/>) and builds the ring; the first problem found is thrown with its own ErrorId.</summary>
    public KeyRing BuildKeyRing(string? fileForMessages = null)
    {
        using var diagnosis = KeyFileDiagnosis.Of(this, fileForMessages);
        return diagnosis.TakeRing();
    }
}
