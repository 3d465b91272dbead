using SecretsPS.Core.Crypto;

namespace SecretsPS.Core.Config;

/// <summary>
/// A listing that shows every version, broken ones included (with the reason as SaltIntegrity), so that
/// one bad version does not hide the others from the person who has to repair the file.
/// </summary>
public static class KeyVersionListing
{
    public static IReadOnlyList<KeyVersionInfo> Read(string path, IReadOnlyDictionary<string, string>? environment, out IReadOnlyList<SecretsPSException> problems)
    {
        var settings = KeySettings.From(KeyFileStore.ReadDocument(path), environment ?? KeySettings.ProcessEnvironment());
        using var diagnosis = KeyFileDiagnosis.Of(settings, path);
        problems = diagnosis.Problems.Select(p => p.Error).ToList();
        // Oldest first in the one age order every reader uses (broken versions keep their place).
        return diagnosis.Versions.Select(d =>
        {
            bool active = d.Settings.Name == settings.ActiveVersion;
            return d.Version is { } v
                ? KeyVersionInfo.From(v, active, path)
                : new KeyVersionInfo(d.Settings.Name, active, null, d.Settings.Kdf ?? KeyDerivation.HkdfSha256.Name, 0, 0, d.Settings.Source,
                    "Failed: " + d.Error!.ErrorId, path);
        }).ToList();
    }
}
