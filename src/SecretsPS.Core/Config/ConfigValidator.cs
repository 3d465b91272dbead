using System.Text;
using SecretsPS.Core.Crypto;

namespace SecretsPS.Core.Config;

public enum CheckStatus
{
    Passed,
    Warning,
    Failed,
}

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
            results.Add(new ConfigCheck("FileRead", null, CheckStatus.Passed, Localized.Format(Messages.CheckFileRead, path)));
        }
        catch (SecretsPSException e)
        {
            results.Add(new ConfigCheck("FileRead", null, CheckStatus.Failed, e.Message, e.ErrorId));
            return results;
        }

        results.Add(OwnerOnlyFile.IsReadableByOthers(path)
            ? new ConfigCheck("FileMode", null, CheckStatus.Warning,
                Localized.Format(Messages.CheckFileReadableByOthers, path), ErrorIds.KeyFileReadableByOthers)
            : new ConfigCheck("FileMode", null, CheckStatus.Passed, Messages.CheckFileOwnerOnly));

        var settings = KeySettings.From(document, env);
        using var diagnosis = KeyFileDiagnosis.Of(settings, path);
        ConfigCheck Failed(KeyFileProblem p) => new(p.Check, p.Version, CheckStatus.Failed, p.Error.Message, p.Error.ErrorId);

        var parse = diagnosis.Problems.Where(p => p.Check == "Parse").Select(Failed).ToList();
        results.AddRange(parse.Count > 0 ? parse : [new ConfigCheck("Parse", null, CheckStatus.Passed, Localized.Format(Messages.CheckVersionsDefined, settings.Versions.Count))]);
        var activeProblem = diagnosis.Problems.FirstOrDefault(p => p.Check == "ActivePresent");
        results.Add(activeProblem is not null
            ? Failed(activeProblem)
            : new ConfigCheck("ActivePresent", settings.ActiveVersion, CheckStatus.Passed, Localized.Format(Messages.CheckActiveVersion, settings.ActiveVersion)));

        var plaintext = Encoding.UTF8.GetBytes("SecretsPS self-test ção ✓");
        DateTimeOffset? activeCreated = null; // as KeyVersion read it: the key-age check never parses the text a second way
        var places = new List<(string Name, int Order, DateTimeOffset? Created)>(); // the versions that built, for the order check
        foreach (var d in diagnosis.Versions)
        {
            if (d.Version is not { } version)
            {
                results.Add(new ConfigCheck("KeyMaterial", d.Settings.Name, CheckStatus.Failed, d.Error!.Message, d.Error.ErrorId));
                continue;
            }
            if (version.Name == settings.ActiveVersion) activeCreated = version.Created;
            places.Add((version.Name, version.Order, version.Created));
            results.Add(new ConfigCheck("KeyMaterial", version.Name, CheckStatus.Passed,
                Localized.Format(Messages.CheckKeyMaterial, version.KeyLength, version.SaltLength, version.Kdf.Name)));
            try
            {
                var token = version.FernetKey.Encrypt(plaintext);
                var back = version.FernetKey.Decrypt(token);
                results.Add(back.AsSpan().SequenceEqual(plaintext)
                    ? new ConfigCheck("SelfTest", version.Name, CheckStatus.Passed, Messages.CheckSelfTestPassed)
                    : new ConfigCheck("SelfTest", version.Name, CheckStatus.Failed, Messages.CheckSelfTestFailed, ErrorIds.SelfTestFailed));
            }
            catch (SecretsPSException e)
            {
                results.Add(new ConfigCheck("SelfTest", version.Name, CheckStatus.Failed, e.Message, e.ErrorId));
            }
        }

        results.AddRange(CheckVersionOrder(settings, places));

        if (maxKeyAgeDays is { } maxAge && settings.ActiveVersion is { } active)
        {
            if (activeCreated is { } c)
            {
                var age = (now ?? DateTimeOffset.UtcNow) - c;
                results.Add(age.TotalDays > maxAge
                    ? new ConfigCheck("KeyAge", active, CheckStatus.Warning,
                        Localized.Format(Messages.CheckKeyTooOld, (int)age.TotalDays, maxAge), "ActiveKeyTooOld")
                    : new ConfigCheck("KeyAge", active, CheckStatus.Passed, Localized.Format(Messages.CheckKeyAge, (int)age.TotalDays)));
            }
            else
            {
                results.Add(new ConfigCheck("KeyAge", active, CheckStatus.Warning,
                    Localized.Format(Messages.CheckKeyAgeUnknown, active), ErrorIds.ActiveKeyAgeUnknown));
            }
        }
        return results;
    }

    /// <summary>
    /// FORMATS.md §1: the file order is the age order; an ENCRYPTION_CREATED__ that says a later-appearing version is
    /// older is a warning (naming both versions, saying the file order is used), never a failure. With no disagreement,
    /// one passed check shows the order used. A file with a single version has nothing to order.
    /// </summary>
    private static IEnumerable<ConfigCheck> CheckVersionOrder(KeySettings settings, IReadOnlyList<(string Name, int Order, DateTimeOffset? Created)> built)
    {
        if (settings.Versions.Count < 2) yield break;
        var disagreements = VersionOrder.Disagreements(built, v => v.Name, v => v.Order, v => v.Created);
        if (disagreements.Count == 0)
        {
            var order = VersionOrder.OldestFirst(settings.Versions, v => v.Order).Select(v => v.Name);
            yield return new ConfigCheck("VersionOrder", null, CheckStatus.Passed, Localized.Format(Messages.CheckVersionOrder, MessageText.List(order)));
            yield break;
        }
        foreach (var d in disagreements)
            yield return new ConfigCheck("VersionOrder", d.Later, CheckStatus.Warning,
                Localized.Format(Messages.CheckCreatedDisagreesWithFileOrder, d.Earlier, d.Later,
                    KeyVersion.FormatTime(d.EarlierCreated), KeyVersion.FormatTime(d.LaterCreated)),
                "CreatedDisagreesWithFileOrder");
    }
}
