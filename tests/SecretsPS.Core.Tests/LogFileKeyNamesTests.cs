using SecretsPS.Core.Audit;
using Xunit;

namespace SecretsPS.Core.Tests;

/// <summary>FORMATS.md §6: -LogFile never names the key file, one of its backups, its lock or its journal.</summary>
public sealed class LogFileKeyNamesTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Theory]
    [InlineData(".env.crypto")]
    [InlineData(".env.crypto.backup_20250101_000000")]
    [InlineData(".env.crypto.backup_20250101_000000_2")]
    [InlineData(".env.crypto.lock")]
    [InlineData(".env.crypto.audit.jsonl")]
    public void The_key_files_own_names_are_refused(string name)
    {
        var key = _folder.Write(".env.crypto", "ACTIVE_ENCRYPTION_VERSION=\"v1\"\n");
        var e = Assert.Throws<SecretsPSException>(() => LogWriter.RefuseKeyFileNames(_folder.File(name), key));
        Assert.Equal("LogFileIsKeyFile", e.ErrorId);
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
    }

    [Theory]
    [InlineData("run.log")]
    [InlineData(".env.crypto.log")]
    [InlineData(".env.crypto.production")]
    [InlineData("other.env.crypto.lock")]
    public void Other_names_beside_it_are_not(string name)
    {
        var key = _folder.Write(".env.crypto", "x");
        Assert.False(LogWriter.NamesKeyFile(_folder.File(name), key));
    }

    [Fact]
    public void Dot_segments_are_resolved() =>
        Assert.True(LogWriter.NamesKeyFile(_folder.File("sub", "..", ".env.crypto.lock"), _folder.Write(".env.crypto", "x")));

    [Fact]
    public void Links_are_followed_both_ways_and_through_folders()
    {
        if (OperatingSystem.IsWindows()) return; // symbolic links need a privilege there
        var key = _folder.Write("real/keys.env", "x");
        var keyLink = _folder.File(".env.crypto");
        File.CreateSymbolicLink(keyLink, "real/keys.env"); // relative link text
        var logLink = _folder.File("logs", "run.log");
        Directory.CreateDirectory(_folder.File("logs"));
        File.CreateSymbolicLink(logLink, key);
        Directory.CreateSymbolicLink(_folder.File("alias"), _folder.File("real"));

        Assert.True(LogWriter.NamesKeyFile(logLink, key));                                    // the log is a link to the key file
        Assert.True(LogWriter.NamesKeyFile(key, keyLink));                                    // the key file is a link to the log
        Assert.True(LogWriter.NamesKeyFile(key + ".lock", keyLink));                          // the target's lock
        Assert.True(LogWriter.NamesKeyFile(keyLink + ".audit.jsonl", keyLink));               // the link's own names
        Assert.True(LogWriter.NamesKeyFile(_folder.File("alias", "keys.env.lock"), key));     // a linked folder on the way
        Assert.False(LogWriter.NamesKeyFile(_folder.File("alias", "keys.env.log"), key));
    }
}
