using SecretsPS.Core.Crypto;

namespace SecretsPS.Core.Config;

/// <summary>One rule a key file breaks, found once, with the error every reader reports for it.</summary>
/// <param name="Check">The Test-EncryptionConfig check it fails: Parse, ActivePresent or KeyMaterial.</param>
public sealed record KeyFileProblem(string Check, string? Version, SecretsPSException Error);

/// <summary>
/// A key file's settings judged once. Every reader takes its answers from here: the key ring (which refuses the first
/// problem), Get-EncryptionKey's listing (every version, broken ones included), Test-EncryptionConfig (every problem as a
/// check) and argument completion; so each rule (a name assigned twice, the active version missing or not defined, a
/// version that does not load) is written once, with one message.
/// </summary>
public sealed class KeyFileDiagnosis : IDisposable
{
    private readonly List<KeyVersion> _built;
    private bool _ringTaken;

    private KeyFileDiagnosis(KeySettings settings, IReadOnlyList<KeyFileProblem> problems, IReadOnlyList<DiagnosedVersion> versions, List<KeyVersion> built)
    {
        Settings = settings;
        Problems = problems;
        Versions = versions;
        _built = built;
    }

    public KeySettings Settings { get; }

    /// <summary>The file's own problems first (names assigned twice, the active version), then each version's, oldest first.</summary>
    public IReadOnlyList<KeyFileProblem> Problems { get; }

    /// <summary>Every version, oldest first (FORMATS.md §1), with its key material when it loads.</summary>
    public IReadOnlyList<DiagnosedVersion> Versions { get; }

    public bool IsValid => Problems.Count == 0;

    public static KeyFileDiagnosis Of(KeySettings settings, string? path)
    {
        var problems = new List<KeyFileProblem>();
        foreach (var name in settings.NamesDefinedTwice)
        {
            var version = KeyFileNames.TrySplit(name, out _, out var v) ? v : null;
            problems.Add(new KeyFileProblem("Parse", null, DefinedTwice(name, version ?? name)));
        }

        var active = settings.ActiveVersion;
        if (active is null)
        {
            problems.Add(new KeyFileProblem("ActivePresent", null, new KeyFileException(ErrorIds.ActiveVersionMissing, ErrorKind.InvalidData,
                Localized.Format(Messages.ActiveVersionMissing, path is null ? "" : Localized.Format(Messages.QuotedPathSuffix, path), KeyFileNames.Active), path)));
        }
        else if (!VersionName.IsValid(active))
        {
            try { VersionName.Validate(active); }
            catch (SecretsPSException e) { problems.Add(new KeyFileProblem("ActivePresent", null, e)); }
        }
        else if (settings.Versions.All(v => v.Name != active))
        {
            problems.Add(new KeyFileProblem("ActivePresent", active, NotDefined(active, settings.Versions.Select(v => v.Name))));
        }

        var built = new List<KeyVersion>();
        var versions = new List<DiagnosedVersion>();
        foreach (var s in VersionOrder.OldestFirst(settings.Versions, v => v.Order))
        {
            try
            {
                var version = KeyVersion.FromText(s.Name, s.Key, s.Salt, s.SaltHash, s.Kdf, s.Created, s.Source, s.Order);
                built.Add(version);
                versions.Add(new DiagnosedVersion(s, version, null));
            }
            catch (SecretsPSException e)
            {
                problems.Add(new KeyFileProblem("KeyMaterial", s.Name, e));
                versions.Add(new DiagnosedVersion(s, null, e));
            }
        }
        return new KeyFileDiagnosis(settings, problems, versions, built);
    }

    /// <summary>The error for a name assigned more than once (in the file, or two versions of one name in a ring).</summary>
    internal static KeyFileException DefinedTwice(string name, string target) =>
        new(ErrorIds.VersionDefinedTwice, ErrorKind.InvalidData, Localized.Format(Messages.VersionDefinedTwice, MessageText.Shorten(name, 60)), target);

    /// <summary>The error for an active version that no version defines.</summary>
    internal static SecretsPSException NotDefined(string active, IEnumerable<string> defined) =>
        new(ErrorIds.ActiveVersionNotDefined, ErrorKind.ObjectNotFound,
            Localized.Format(Messages.ActiveVersionNotDefined, MessageText.Shorten(active), MessageText.List(defined)), target: active);

    /// <summary>The key ring of a file without problems; otherwise the first problem, thrown. The ring owns the versions then.</summary>
    public KeyRing TakeRing()
    {
        if (Problems.Count > 0) throw Problems[0].Error;
        if (_ringTaken) throw new InvalidOperationException("The key ring was taken already.");
        var ring = new KeyRing(_built, Settings.ActiveVersion!);
        _ringTaken = true;
        return ring;
    }

    public void Dispose()
    {
        if (_ringTaken) return;
        foreach (var v in _built) v.Dispose();
    }
}

/// <summary>One version as the diagnosis found it: its settings, and its key material or why it does not load.</summary>
public sealed record DiagnosedVersion(VersionSettings Settings, KeyVersion? Version, SecretsPSException? Error);
