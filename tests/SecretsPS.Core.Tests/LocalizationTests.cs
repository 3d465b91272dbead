using System.Globalization;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using SecretsPS.Core.Audit;
using SecretsPS.Core.Config;
using SecretsPS.Core.Tests.CleanupSupport;

namespace SecretsPS.Core.Tests;

/// <summary>
/// Messages come from resources: en-US (the neutral .resx) and pt-BR (its satellite), chosen by the UI culture —
/// PowerShell's $PSUICulture. Every key is translated with the same placeholders; a library error keeps its ErrorId and
/// kind in any language; what goes into a contract (the cleanup audit trail and journal) stays English.
/// </summary>
public sealed class LocalizationTests : IDisposable
{
    // Texts that are right as they are in Portuguese: pure placeholders and punctuation, or a target made of names.
    private static readonly HashSet<string> SameInBothLanguages = new(StringComparer.Ordinal)
    {
        "QuotedPathSuffix", "CommaSuffix", "ProblemLine", "JobTarget", "CompletionJob",
    };

    private static readonly Regex Placeholder = new(@"\{(\d+)(?:,[^}:]*)?(?::[^}]*)?\}", RegexOptions.CultureInvariant);

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    public static TheoryData<string> ResourceFiles => new()
    {
        "src/SecretsPS.Core/Resources/Messages",
        "src/SecretsPS/Resources/CommandMessages",
    };

    [Theory]
    [MemberData(nameof(ResourceFiles))]
    public void Every_message_has_a_pt_BR_translation_with_the_same_placeholders(string resource)
    {
        var english = Read(resource + ".resx");
        var portuguese = Read(resource + ".pt-BR.resx");

        Assert.NotEmpty(english);
        Assert.Empty(english.Keys.Except(portuguese.Keys));
        Assert.Empty(portuguese.Keys.Except(english.Keys));
        foreach (var (key, text) in english)
        {
            Assert.True(Placeholders(text).SetEquals(Placeholders(portuguese[key])),
                $"{key}: en-US has {{{string.Join(",", Placeholders(text))}}}, pt-BR has {{{string.Join(",", Placeholders(portuguese[key]))}}}");
        }
    }

    [Theory]
    [MemberData(nameof(ResourceFiles))]
    public void No_pt_BR_message_is_empty_or_left_in_English(string resource)
    {
        var english = Read(resource + ".resx");
        var portuguese = Read(resource + ".pt-BR.resx");

        foreach (var (key, text) in portuguese)
        {
            Assert.False(string.IsNullOrWhiteSpace(text), $"{key} is empty in pt-BR");
            if (!SameInBothLanguages.Contains(key)) Assert.NotEqual(english[key], text);
        }
    }

    [Theory]
    [MemberData(nameof(ResourceFiles))]
    public void Every_message_is_a_valid_composite_format(string resource)
    {
        foreach (var culture in new[] { ".resx", ".pt-BR.resx" })
        {
            foreach (var (key, text) in Read(resource + culture))
            {
                var args = Enumerable.Repeat<object?>("x", 10).ToArray();
                var ex = Record.Exception(() => string.Format(CultureInfo.InvariantCulture, text, args));
                Assert.True(ex is null, $"{key} ({culture}): {ex?.Message}");
            }
        }
    }

    [Fact]
    public void A_library_error_under_pt_BR_has_a_Portuguese_message_and_the_same_ErrorId_and_kind()
    {
        var missing = _folder.File("nowhere", ".env.crypto");

        var english = InCulture("en-US", () => Assert.Throws<KeyFileException>(() => KeyFileStore.ReadDocument(missing)));
        var portuguese = InCulture("pt-BR", () => Assert.Throws<KeyFileException>(() => KeyFileStore.ReadDocument(missing)));

        Assert.StartsWith($"The key file '{missing}' does not exist.", english.Message);
        Assert.StartsWith($"O arquivo de chaves '{missing}' não existe.", portuguese.Message);
        Assert.Equal(english.ErrorId, portuguese.ErrorId);
        Assert.Equal(english.Kind, portuguese.Kind);
        Assert.Equal(english.Target, portuguese.Target);
    }

    [Fact]
    public void A_message_built_from_parts_is_Portuguese_in_every_part()
    {
        var e = InCulture("pt-BR", () => Assert.Throws<SecretsPSException>(() => Crypto.VersionName.Validate("bad name!")));

        Assert.Equal("VersionNameInvalid", e.ErrorId);
        Assert.Contains("não é válido", e.Message);
        Assert.Contains("um nome de versão tem de 1 a 32 caracteres", e.Message);
    }

    [Fact]
    public void A_culture_without_translations_falls_back_to_English()
    {
        var e = InCulture("de-DE", () => Assert.Throws<SecretsPSException>(() => Crypto.VersionName.Validate("bad name!")));

        Assert.StartsWith("The version name 'bad name!' is not valid", e.Message);
    }

    [Fact]
    public void A_rolled_back_cleanup_under_pt_BR_writes_its_audit_trail_and_journal_in_English()
    {
        var key = CleanupKeys.Create(_folder.Path, "v1", "v2", "v3");
        var log = new CleanupLog();
        var cleanup = CleanupKeys.Cleanup(key, log, db: null, keep: 1, skipUsageCheck: true, force: true);
        cleanup.AfterWrite = path => File.WriteAllText(path, CleanupKeys.WithWrongSaltHash(File.ReadAllText(path), "v3"));

        var op = InCulture("pt-BR", () => cleanup.Run(_ => true));

        Assert.Equal(CleanupOutcome.RolledBack, op.OutcomeKind);
        Assert.Contains("Salt integrity check failed for version 'v3'", op.Message);
        var verify = Assert.Single(log.Messages, m => m.Text.Contains("failed its checks", StringComparison.Ordinal));
        Assert.Contains("Salt integrity check failed", verify.Text);
        var journal = File.ReadAllText(CleanupJournal.PathFor(key));
        Assert.Contains("Salt integrity check failed", journal);
        Assert.DoesNotContain("verificação de integridade", journal);
    }

    private static T InCulture<T>(string name, Func<T> action)
    {
        var previous = CultureInfo.CurrentUICulture;
        CultureInfo.CurrentUICulture = CultureInfo.GetCultureInfo(name);
        try
        {
            var result = action();
            Assert.Equal(name, CultureInfo.CurrentUICulture.Name); // nothing inside (InvariantMessages) left the culture changed
            return result;
        }
        finally
        {
            CultureInfo.CurrentUICulture = previous;
        }
    }

    private static Dictionary<string, string> Read(string relativePath) =>
        XDocument.Load(Path.Combine(RepoPaths.RepoRoot, relativePath)).Root!
            .Elements("data")
            .ToDictionary(d => (string)d.Attribute("name")!, d => (string?)d.Element("value") ?? "");

    private static HashSet<string> Placeholders(string text) =>
        Placeholder.Matches(text).Select(m => m.Value).ToHashSet(StringComparer.Ordinal);
}
