using System.Text.RegularExpressions;
using SecretsPS.Core.Audit;

namespace SecretsPS.Core.Tests;

/// <summary>FORMATS.md §6: one entry per line, <c>yyyy-MM-dd HH:mm:ss,fff - &lt;logger&gt; - &lt;LEVEL&gt; - &lt;message&gt;</c>.</summary>
public sealed class LogWriterTests : IDisposable
{
    private const string Logger = "SecretsPS.Commands.RemoveUnusedEncryptionKey";
    private static readonly Regex LinePattern = new(@"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} - (?<logger>[^ ]+) - (?<level>DEBUG|INFO|WARNING|ERROR) - (?<message>.*)$");

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void A_line_is_time_with_milliseconds_logger_level_and_message()
    {
        var line = LogWriter.Format(new DateTime(2024, 10, 15, 14, 30, 22, 123), Logger, LogLevel.Info,
            "[CLEANUP-AUDIT] Operação iniciada - ID: cleanup_20241015_143022_a1b2");

        Assert.Equal(
            "2024-10-15 14:30:22,123 - SecretsPS.Commands.RemoveUnusedEncryptionKey - INFO - [CLEANUP-AUDIT] Operação iniciada - ID: cleanup_20241015_143022_a1b2",
            line);
    }

    [Theory]
    [InlineData(LogLevel.Debug, "DEBUG")]
    [InlineData(LogLevel.Info, "INFO")]
    [InlineData(LogLevel.Warning, "WARNING")]
    [InlineData(LogLevel.Error, "ERROR")]
    public void Each_level_has_its_name(LogLevel level, string name)
    {
        Assert.Equal(name, LogWriter.LevelName(level));
        Assert.Equal($"2024-01-02 03:04:05,006 - L - {name} - m", LogWriter.Format(new DateTime(2024, 1, 2, 3, 4, 5, 6), "L", level, "m"));
    }

    [Fact]
    public void Line_breaks_in_a_message_are_folded_into_one_line()
    {
        var line = LogWriter.Format(new DateTime(2024, 1, 2), "L", LogLevel.Error, "first\nsecond\r\nthird\rfourth");

        Assert.Equal("2024-01-02 00:00:00,000 - L - ERROR - first second third fourth", line);
        Assert.DoesNotContain('\n', line);
        Assert.DoesNotContain('\r', line);
    }

    [Fact]
    public void Write_appends_one_line_per_entry_to_what_the_file_already_holds()
    {
        var path = _folder.Write("run.log", "earlier line\n");

        using (var log = new LogWriter(path, Logger))
        {
            log.Write(LogLevel.Info, "started");
            log.Write(LogLevel.Warning, "careful:\nsecond line of the same entry");
        }

        using (var again = new LogWriter(path, Logger))
            again.Write(LogLevel.Error, "failed");

        var text = File.ReadAllText(path);
        Assert.EndsWith("\n", text);
        Assert.DoesNotContain('\r', text);
        var lines = text[..^1].Split('\n');
        Assert.Equal(4, lines.Length);
        Assert.Equal("earlier line", lines[0]);
        var entries = lines.Skip(1).Select(l => LinePattern.Match(l)).ToList();
        Assert.All(entries, m => Assert.True(m.Success));
        Assert.Equal(new[] { "INFO", "WARNING", "ERROR" }, entries.Select(m => m.Groups["level"].Value));
        Assert.All(entries, m => Assert.Equal(Logger, m.Groups["logger"].Value));
        Assert.Equal("careful: second line of the same entry", entries[1].Groups["message"].Value);
    }

    [Fact]
    public void Each_entry_is_on_disk_as_soon_as_it_is_written()
    {
        var path = _folder.File("live.log");
        using var log = new LogWriter(path, "L");

        log.Write(LogLevel.Info, "first");

        using var reader = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        Assert.Matches(LinePattern, new StreamReader(reader).ReadToEnd().TrimEnd('\n'));
    }

    [Fact]
    public void The_log_folder_is_created_when_missing()
    {
        var path = _folder.File("logs", "deep", "run.log");

        using (var log = new LogWriter(path, "L"))
            log.Write(LogLevel.Debug, "x");

        Assert.True(File.Exists(path));
    }

    [Fact]
    public void A_log_file_that_cannot_be_opened_fails_with_LogFileUnwritable()
    {
        var e = Assert.ThrowsAny<SecretsPSException>(() => new LogWriter(_folder.Path, "L"));

        Assert.Equal("LogFileUnwritable", e.ErrorId);
    }

    [Fact]
    public void An_empty_log_file_name_means_a_timestamped_file_in_the_current_folder()
    {
        var path = LogWriter.ResolvePath("", _folder.Path, new DateTime(2024, 10, 15, 14, 30, 22));

        Assert.Equal(Path.Combine(_folder.Path, "secrets_20241015_143022.log"), path);
        Assert.Matches(@"^secrets_\d{8}_\d{6}\.log$", Path.GetFileName(LogWriter.ResolvePath("", _folder.Path)));
    }

    [Fact]
    public void A_relative_log_file_is_resolved_against_the_current_folder()
    {
        Assert.Equal(_folder.File("logs", "a.log"), LogWriter.ResolvePath("logs/a.log", _folder.Path));
        Assert.Equal("/var/log/x.log", LogWriter.ResolvePath("/var/log/x.log", _folder.Path));
    }
}
