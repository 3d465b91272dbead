using SecretsPS.Core.Crypto;

namespace SecretsPS.Core.Config;

public sealed class NewKeyFileResult
{
    public NewKeyFileResult(KeyVersionInfo version, string? backupPath)
    {
        Version = version;
        BackupPath = backupPath;
    }

    public KeyVersionInfo Version { get; }
    public string? BackupPath { get; }
}

public sealed record RotationOptions
{
    public string? NewVersion { get; init; }
    public int KeyBytes { get; init; } = KeyVersion.DefaultKeyBytes;
    public int SaltBytes { get; init; } = KeyVersion.DefaultSaltBytes;
    public string? Kdf { get; init; }
    /// <summary>False adds the version for decryption only (first phase of a two-phase rotation).</summary>
    public bool Activate { get; init; } = true;
    /// <summary>False writes nothing: the new version's lines are returned for a secret store instead.</summary>
    public bool Persist { get; init; } = true;
}

/// <summary>
/// The new version. <see cref="SettingLines"/> holds key material and is filled only when the caller
/// asked not to persist; it is meant for a secret store, never for a log.
/// </summary>
public sealed class RotationResult
{
    public RotationResult(KeyVersionInfo version, string? previousActive, string? backupPath, IReadOnlyList<string> settingLines)
    {
        Version = version;
        PreviousActive = previousActive;
        BackupPath = backupPath;
        SettingLines = settingLines;
    }

    public KeyVersionInfo Version { get; }
    public string? PreviousActive { get; }
    public string? BackupPath { get; }
    public IReadOnlyList<string> SettingLines { get; }
}

public sealed class ActivationResult
{
    public ActivationResult(string version, string previousActive, string? backupPath, bool activeOverriddenByEnvironment)
    {
        Version = version;
        PreviousActive = previousActive;
        BackupPath = backupPath;
        ActiveOverriddenByEnvironment = activeOverriddenByEnvironment;
    }

    public string Version { get; }
    public string PreviousActive { get; }
    public string? BackupPath { get; }
    public bool ActiveOverriddenByEnvironment { get; }
}

public sealed class RemovalResult
{
    public RemovalResult(IReadOnlyList<string> removed, string backupPath)
    {
        Removed = removed;
        BackupPath = backupPath;
    }

    public IReadOnlyList<string> Removed { get; }
    public string BackupPath { get; }
}

public sealed record RestoreResult(string Path, string RestoredFrom, string? BackupOfReplaced);

/// <summary>
/// Every change of a key file, each through <see cref="KeyFileStore.Edit"/>: validated against the file as read under
/// its lock, backed up, written atomically, so a failure at any point leaves the previous file intact.
/// </summary>
public static class KeyFileOperations
{
    public const string HeaderWarning = "MANTENHA ESTE ARQUIVO SEGURO - NÃO VERSIONE EM GIT";

    /// <summary>KeyFileExists when the file is there: to refuse before asking anything, as the answer would not change the outcome.</summary>
    public static void RefuseExisting(string path)
    {
        var full = Path.GetFullPath(path);
        if (File.Exists(full)) throw Exists(full);
    }

    private static KeyFileException Exists(string full) =>
        new(ErrorIds.KeyFileExists, ErrorKind.ResourceExists, Localized.Format(Messages.KeyFileExists, full), full);

    public static NewKeyFileResult Create(string path, string version, int keyBytes, int saltBytes, string? kdf, bool overwrite, DateTimeOffset? now = null)
    {
        var time = now ?? DateTimeOffset.UtcNow;
        var derivation = KeyDerivation.Parse(kdf);
        using var key = KeyVersion.Generate(version, keyBytes, saltBytes, derivation, time);

        var document = KeyFileDocument.Empty();
        document.AppendComment("Gerado em " + KeyVersion.FormatTime(time));
        document.AppendComment(HeaderWarning);
        document.AppendBlankLine();
        document.Set(KeyFileNames.Active, version);
        foreach (var (name, value) in key.ToSettings()) document.Set(name, value);

        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(KeyFileStore.ResolveTarget(full))!);
        var bytes = KeyFileStore.Encode(document.ToText());
        var edit = KeyFileStore.Edit(full, state =>
        {
            if (state.Exists && !overwrite) throw Exists(full);
            return bytes;
        }, mayCreate: true);
        return new NewKeyFileResult(KeyVersionInfo.From(key, true, full), edit.BackupPath);
    }

    /// <summary>The name an automatic rotation would choose now.</summary>
    public static string NextVersion(string path, IReadOnlyDictionary<string, string>? environment = null) =>
        CheckRotatable(path, null, environment);

    /// <summary>
    /// What a rotation checks before it writes, for a rehearsal (-WhatIf) and before a confirmation: the file loads, and the
    /// new version (given, or the next one) is not defined yet. Returns the version's name. The rotation checks again
    /// under the lock.
    /// </summary>
    public static string CheckRotatable(string path, string? newVersion, IReadOnlyDictionary<string, string>? environment = null)
    {
        if (newVersion is not null) VersionName.Validate(newVersion);
        var document = KeyFileStore.ReadDocument(path);
        using var config = KeyConfiguration.FromDocument(path, document, environment ?? KeySettings.ProcessEnvironment());
        var name = newVersion ?? VersionName.Next(config.Ring.Versions.Select(v => v.Name));
        RefuseExisting(config, document, name);
        return name;
    }

    private static void RefuseExisting(KeyConfiguration config, KeyFileDocument document, string name)
    {
        if (config.Ring.TryGet(name, out var existing) || document.Contains(KeyFileNames.Key(name)))
            throw new SecretsPSException(ErrorIds.KeyVersionExists, ErrorKind.ResourceExists,
                Localized.Format(Messages.KeyVersionExists, name, existing?.Source == KeySource.Environment ? Messages.FromEnvironmentSuffix : ""),
                target: name);
    }

    public static RotationResult Rotate(string path, RotationOptions options, IReadOnlyDictionary<string, string>? environment = null, DateTimeOffset? now = null)
    {
        if (options.NewVersion is not null) VersionName.Validate(options.NewVersion);
        var derivation = KeyDerivation.Parse(options.Kdf);
        var env = environment ?? KeySettings.ProcessEnvironment();
        var time = now ?? DateTimeOffset.UtcNow;
        KeyVersionInfo? info = null;
        string? previous = null;
        var lines = new List<string>();

        bool Change(KeyFileDocument document, byte[] _)
        {
            using var config = KeyConfiguration.FromDocument(path, document, env);
            previous = config.Ring.Active.Name;
            var name = options.NewVersion ?? VersionName.Next(config.Ring.Versions.Select(v => v.Name));
            RefuseExisting(config, document, name);
            using var key = KeyVersion.Generate(name, options.KeyBytes, options.SaltBytes, derivation, time);
            info = KeyVersionInfo.From(key, options.Activate && !env.ContainsKey(KeyFileNames.Active), path);
            if (!options.Persist)
            {
                if (options.Activate) lines.Add(KeyFileDocument.Format(KeyFileNames.Active, name));
                lines.AddRange(key.ToSettings().Select(s => KeyFileDocument.Format(s.Name, s.Value)));
                return false;
            }
            document.AppendBlankLine();
            foreach (var (n, v) in key.ToSettings()) document.Set(n, v);
            if (options.Activate) document.Set(KeyFileNames.Active, name);
            return true;
        }

        var backup = KeyFileStore.Update(path, Change);
        return new RotationResult(info!, previous, backup, lines);
    }

    public static ActivationResult SetActive(string path, string version, IReadOnlyDictionary<string, string>? environment = null)
    {
        VersionName.Validate(version);
        var env = environment ?? KeySettings.ProcessEnvironment();
        string previous = "";
        bool Change(KeyFileDocument document, byte[] _)
        {
            previous = document.Get(KeyFileNames.Active) ?? "(none)";
            RefuseUnactivatable(path, document, version, env);
            document.Set(KeyFileNames.Active, version);
            // The file must load with the new active version before anything is written (this also repairs a file
            // whose active version was missing or undefined, and refuses every other damage).
            using var check = KeyConfiguration.FromDocument(path, document, env.Where(kv => kv.Key != KeyFileNames.Active).ToDictionary(kv => kv.Key, kv => kv.Value));
            return previous != version;
        }
        var backup = KeyFileStore.Update(path, Change);
        return new ActivationResult(version, previous, backup, env.ContainsKey(KeyFileNames.Active));
    }

    /// <summary>
    /// The checks SetActive makes on the version, without changing anything: for a caller that asks for a confirmation first.
    /// SetActive checks again under the file's lock.
    /// </summary>
    public static void CheckActivatable(string path, string version, IReadOnlyDictionary<string, string>? environment = null)
    {
        VersionName.Validate(version);
        RefuseUnactivatable(path, KeyFileStore.ReadDocument(path), version, environment ?? KeySettings.ProcessEnvironment());
    }

    /// <summary>
    /// The version must be known, and defined by the file itself: a version that exists only in environment variables would
    /// leave a file that cannot load on its own (every other reader of the file lacks those variables).
    /// </summary>
    private static void RefuseUnactivatable(string path, KeyFileDocument document, string version, IReadOnlyDictionary<string, string> env)
    {
        var known = KeySettings.From(document, env).Versions.Select(v => v.Name).ToList();
        if (!known.Contains(version))
            throw new KeyVersionNotFoundException(version, Localized.Format(Messages.KeyVersionNotInFileKnown, MessageText.Shorten(version), path, MessageText.List(known)));
        var missing = new[] { KeyFileNames.Key(version), KeyFileNames.Salt(version), KeyFileNames.SaltHash(version) }
            .Where(n => !document.Contains(n)).ToList();
        if (missing.Count > 0)
            throw new SecretsPSException(ErrorIds.VersionFromEnvironment, ErrorKind.InvalidOperation,
                Localized.Format(Messages.ActivateVersionFromEnvironment, version, path, string.Join(", ", missing)),
                target: version);
    }

    public static RemovalResult RemoveVersions(string path, IReadOnlyCollection<string> versions, IReadOnlyDictionary<string, string>? environment = null)
    {
        foreach (var v in versions) VersionName.Validate(v);
        var env = environment ?? KeySettings.ProcessEnvironment();
        var removed = new List<string>();
        bool Change(KeyFileDocument document, byte[] _)
        {
            RefuseUnremovable(path, document, versions, env);
            foreach (var v in versions.Distinct(StringComparer.Ordinal))
            {
                foreach (var name in KeyFileNames.AllFor(v)) document.Remove(name);
                removed.Add(v);
            }
            using var check = KeyConfiguration.FromDocument(path, document, env);
            return true;
        }
        var backup = KeyFileStore.Update(path, Change);
        return new RemovalResult(removed, backup!);
    }

    /// <summary>
    /// The checks RemoveVersions makes, without changing anything: for a caller that asks for a confirmation first and
    /// must not ask about a removal that would be refused. RemoveVersions checks again under the file's lock.
    /// </summary>
    public static void CheckRemovable(string path, IReadOnlyCollection<string> versions, IReadOnlyDictionary<string, string>? environment = null)
    {
        foreach (var v in versions) VersionName.Validate(v);
        RefuseUnremovable(path, KeyFileStore.ReadDocument(path), versions, environment ?? KeySettings.ProcessEnvironment());
    }

    private static void RefuseUnremovable(string path, KeyFileDocument document, IReadOnlyCollection<string> versions, IReadOnlyDictionary<string, string> env)
    {
        using var config = KeyConfiguration.FromDocument(path, document, env);
        foreach (var v in versions.Distinct(StringComparer.Ordinal))
        {
            var key = config.Ring.Get(v);
            // The file's own active version counts too: the environment may override it here, but not for every reader of the file.
            if (ReferenceEquals(key, config.Ring.Active) || document.Get(KeyFileNames.Active) == v)
                throw new SecretsPSException(ErrorIds.ActiveVersionRemoval, ErrorKind.InvalidOperation,
                    Localized.Format(Messages.ActiveVersionRemoval, v),
                    target: v);
            if (!document.Contains(KeyFileNames.Key(v)))
                throw new SecretsPSException(ErrorIds.VersionFromEnvironment, ErrorKind.InvalidOperation,
                    Localized.Format(Messages.VersionFromEnvironment, v),
                    target: v);
        }
    }

    /// <summary>Checks a backup on its own (no environment overlay) and replaces the key file with it, backing the current file up first.</summary>
    public static RestoreResult Restore(string backupPath, string path)
    {
        var backupFull = Path.GetFullPath(backupPath);
        var content = KeyFileStore.ReadBytes(backupFull);
        ValidateBackup(backupFull, content);
        var full = Path.GetFullPath(path);
        var edit = KeyFileStore.Edit(full, _ => content, mayCreate: true);
        return new RestoreResult(full, backupFull, edit.BackupPath);
    }

    public static void ValidateBackup(string backupPath, byte[] content)
    {
        try
        {
            using var config = KeyConfiguration.FromDocument(backupPath, KeyFileStore.ParseBytes(content, backupPath), environment: null);
        }
        catch (SecretsPSException e)
        {
            throw new KeyFileException(ErrorIds.BackupInvalid, ErrorKind.InvalidData,
                Localized.Format(Messages.BackupInvalid, backupPath, e.ErrorId, e.Message),
                backupPath, e);
        }
    }
}
