using System.Text;
using SecretsPS.Core.Crypto;

namespace SecretsPS.Core.Config;

public enum CheckStatus
{
    Passed,
    Warning,
    Failed,
}

/// <summary>One check of Test-EncryptionConfig: what was checked, for which version, and its outcome.</summary>
public sealed record ConfigCheck(string Check, string? Version, CheckStatus Status, string Message, string? ErrorId = null);

/// <summary>
/// Every check a key file can fail, each reported on its own so that one run shows all problems,
/// not just the first.
/// </summary>
public static class ConfigValidator
{
    public static IReadOnlyList<ConfigCheck> Check(string path, IReadOnlyDictionary<string, string>? environment = null, int? maxKeyAgeDays = null, DateTimeOffset? now = null)
    {
        var results = new List<ConfigCheck>();
        var env = environment ?? KeySettings.ProcessEnvironment();

        KeyFileDocument document;
        try
        {
            document = KeyFileStore.ReadDocument(path);
            results.Add(new ConfigCheck("FileRead", null, CheckStatus.Passed, $"Read '{path}'."));
        }
        catch (SecretsPSException e)
        {
            results.Add(new ConfigCheck("FileRead", null, CheckStatus.Failed, e.Message, e.ErrorId));
            return results;
        }

        results.Add(OwnerOnlyFile.IsReadableByOthers(path)
            ? new ConfigCheck("FileMode", null, CheckStatus.Warning,
                $"'{path}' can be read or written by its group or by others. Restrict it: chmod 600 '{path}'.", "KeyFileReadableByOthers")
            : new ConfigCheck("FileMode", null, CheckStatus.Passed, "Only the owner can read the file."));

        var settings = KeySettings.From(document, env);
        results.Add(settings.NamesDefinedTwice.Count == 0
            ? new ConfigCheck("Parse", null, CheckStatus.Passed, $"{settings.Versions.Count} version(s) defined.")
            : new ConfigCheck("Parse", null, CheckStatus.Failed,
                $"Assigned more than once: {string.Join(", ", settings.NamesDefinedTwice)}. Keep one line of each.", "VersionDefinedTwice"));

        if (settings.ActiveVersion is null)
            results.Add(new ConfigCheck("ActivePresent", null, CheckStatus.Failed, $"{KeyFileNames.Active} is missing.", "ActiveVersionMissing"));
        else if (settings.Versions.All(v => v.Name != settings.ActiveVersion))
            results.Add(new ConfigCheck("ActivePresent", settings.ActiveVersion, CheckStatus.Failed,
                $"The active version '{MessageText.Shorten(settings.ActiveVersion)}' is not defined.", "ActiveVersionNotDefined"));
        else
            results.Add(new ConfigCheck("ActivePresent", settings.ActiveVersion, CheckStatus.Passed, $"Active version: {settings.ActiveVersion}."));

        var plaintext = Encoding.UTF8.GetBytes("SecretsPS self-test ção ✓");
        foreach (var s in settings.Versions)
        {
            KeyVersion version;
            try
            {
                version = KeyVersion.FromText(s.Name, s.Key, s.Salt, s.SaltHash, s.Kdf, s.Created, s.Source, s.Order);
            }
            catch (SecretsPSException e)
            {
                results.Add(new ConfigCheck("KeyMaterial", s.Name, CheckStatus.Failed, e.Message, e.ErrorId));
                continue;
            }
            using (version)
            {
                results.Add(new ConfigCheck("KeyMaterial", s.Name, CheckStatus.Passed,
                    $"Key {version.KeyLength} bytes, salt {version.SaltLength} bytes, salt hash matches, KDF {version.Kdf.Name}."));
                try
                {
                    var token = version.FernetKey.Encrypt(plaintext);
                    var back = version.FernetKey.Decrypt(token);
                    results.Add(back.AsSpan().SequenceEqual(plaintext)
                        ? new ConfigCheck("SelfTest", s.Name, CheckStatus.Passed, "Encrypt and decrypt round trip.")
                        : new ConfigCheck("SelfTest", s.Name, CheckStatus.Failed, "Decryption did not return what was encrypted.", "SelfTestFailed"));
                }
                catch (SecretsPSException e)
                {
                    results.Add(new ConfigCheck("SelfTest", s.Name, CheckStatus.Failed, e.Message, e.ErrorId));
                }
            }
        }

        if (maxKeyAgeDays is { } maxAge && settings.ActiveVersion is { } active)
        {
            var created = settings.Versions.FirstOrDefault(v => v.Name == active)?.Created;
            if (created is not null && DateTimeOffset.TryParse(created, System.Globalization.CultureInfo.InvariantCulture,
                    System.Globalization.DateTimeStyles.AssumeUniversal, out var c))
            {
                var age = (now ?? DateTimeOffset.UtcNow) - c;
                results.Add(age.TotalDays > maxAge
                    ? new ConfigCheck("KeyAge", active, CheckStatus.Warning,
                        $"The active key is {(int)age.TotalDays} days old, more than {maxAge}. Rotate it (Invoke-KeyRotation).", "ActiveKeyTooOld")
                    : new ConfigCheck("KeyAge", active, CheckStatus.Passed, $"The active key is {(int)age.TotalDays} days old."));
            }
            else
            {
                results.Add(new ConfigCheck("KeyAge", active, CheckStatus.Warning,
                    $"The active version has no ENCRYPTION_CREATED__{active}; its age is unknown.", "ActiveKeyAgeUnknown"));
            }
        }
        return results;
    }
}
