using SecretsPS.Core.Config;
using Xunit.Abstractions;
using static SecretsPS.Core.Tests.KeyFileFixture;

namespace SecretsPS.Core.Tests;

/// <summary>
/// One diagnosis of a key file, every reader agreeing with it: the key ring refuses the first problem, Get-EncryptionKey's
/// listing reports every problem, Test-EncryptionConfig fails a check for each, with the same ErrorId and the same message.
/// </summary>
public sealed class KeyFileDiagnosisTests : IDisposable
{
    private readonly TempFolder _folder = new();
    private readonly ITestOutputHelper _output;

    public KeyFileDiagnosisTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _folder.Dispose();

    public static TheoryData<string, string> BrokenFiles => new()
    {
        { FileText("v1", Version("v1", 1), Version("v1", 1).Take(1)), "VersionDefinedTwice" },
        { Text(Version("v1", 1)), "ActiveVersionMissing" },
        { FileText("v7", Version("v1", 1)), "ActiveVersionNotDefined" },
        { FileText("v1", Version("v1", 1).Select(l => l.Replace("ENCRYPTION_SALT_HASH__v1=\"", "ENCRYPTION_SALT_HASH__v1=\"00"))), "SaltIntegrityCheckFailed" },
    };

    [Theory]
    [MemberData(nameof(BrokenFiles))]
    public void The_ring_the_listing_and_the_validator_report_the_same_problem_with_the_same_message(string text, string errorId)
    {
        var path = _folder.Write(".env.crypto", text);

        var ring = Assert.ThrowsAny<SecretsPSException>(() => KeyConfiguration.Load(path, NoEnvironment).Dispose());
        KeyVersionListing.Read(path, NoEnvironment, out var listed);
        var failed = ConfigValidator.Check(path, NoEnvironment).Where(c => c.StatusKind == CheckStatus.Failed).ToList();

        Assert.Equal(errorId, ring.ErrorId);
        Assert.Contains(listed, p => p.ErrorId == ring.ErrorId && p.Message == ring.Message);
        Assert.Contains(failed, c => c.ErrorId == ring.ErrorId && c.Message == ring.Message);
    }

    [Fact]
    public void Property_every_reader_agrees_with_the_one_diagnosis_of_any_key_file()
    {
        int broken = 0, good = 0;
        Fuzz.Property(_output, "one diagnosis", FuzzTests.KeyFileText, text =>
        {
            // Cases run on several threads: each its own file.
            var path = _folder.Write(".env.crypto." + Guid.NewGuid().ToString("N"), text);
            SecretsPSException? refused = null;
            try { KeyConfiguration.Load(path, NoEnvironment).Dispose(); }
            catch (SecretsPSException e) { refused = e; }
            KeyVersionListing.Read(path, NoEnvironment, out var listed);
            var failed = ConfigValidator.Check(path, NoEnvironment)
                .Where(c => c.StatusKind == CheckStatus.Failed && c.Check is "Parse" or "ActivePresent" or "KeyMaterial").ToList();

            if (refused is null)
            {
                Interlocked.Increment(ref good);
                Assert.Empty(listed);
                Assert.Empty(failed);
            }
            else
            {
                Interlocked.Increment(ref broken);
                // The ring's refusal is the first problem of the listing, and a failed check of the validator.
                Assert.Equal((refused.ErrorId, refused.Message), (listed[0].ErrorId, listed[0].Message));
                Assert.Contains(failed, c => c.ErrorId == refused.ErrorId && c.Message == refused.Message);
                Assert.Equal(listed.Count, failed.Count);
            }
        });
        _output.WriteLine($"{good} files that load, {broken} that do not");
    }
}
