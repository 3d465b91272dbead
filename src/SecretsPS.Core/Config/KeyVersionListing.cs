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
        var found = new List<SecretsPSException>();
        var list = new List<(KeyVersionInfo Info, int Order)>();
        foreach (var s in settings.Versions)
        {
            bool active = s.Name == settings.ActiveVersion;
            try
            {
                using var v = KeyVersion.FromText(s.Name, s.Key, s.Salt, s.SaltHash, s.Kdf, s.Created, s.Source, s.Order);
                list.Add((KeyVersionInfo.From(v, active, path), v.Order));
            }
            catch (SecretsPSException e)
            {
                found.Add(e);
                list.Add((new KeyVersionInfo(s.Name, active, null, s.Kdf ?? KeyDerivation.HkdfSha256.Name, 0, 0, s.Source,
                    "Failed: " + e.ErrorId, path), s.Order));
            }
        }
        if (settings.ActiveVersion is null)
            found.Add(new KeyFileException("ActiveVersionMissing", ErrorKind.InvalidData, Localized.Format(Messages.ActiveVersionMissing, path, KeyFileNames.Active), path));
        else if (settings.Versions.All(v => v.Name != settings.ActiveVersion))
            found.Add(new KeyFileException("ActiveVersionNotDefined", ErrorKind.ObjectNotFound,
                Localized.Format(Messages.ActiveVersionNotDefinedInFile, KeyFileNames.Active, settings.ActiveVersion), settings.ActiveVersion));
        foreach (var twice in settings.NamesDefinedTwice)
            found.Add(new KeyFileException("VersionDefinedTwice", ErrorKind.InvalidData, Localized.Format(Messages.VersionDefinedTwice, twice), twice));
        problems = found;
        // Oldest first in the one age order every reader uses (broken versions keep their place).
        return VersionOrder.OldestFirst(list, x => x.Order).Select(x => x.Info).ToList();
    }
}
