using System.Globalization;
using System.Text;

namespace SecretsPS.Core.Audit;

public enum LogLevel
{
    Debug,
    Info,
    Warning,
    Error,
}

/// <summary>
/// The -LogFile sink (FORMATS.md §6): one entry per line,
/// <c>yyyy-MM-dd HH:mm:ss,fff - &lt;logger&gt; - &lt;LEVEL&gt; - &lt;message&gt;</c>, appended, flushed per entry
/// so a killed run keeps what it logged.
/// </summary>
public sealed class LogWriter : IDisposable
{
    private readonly StreamWriter _writer;
    private readonly object _gate = new();

    public LogWriter(string path, string loggerName)
    {
        Path = path;
        LoggerName = loggerName;
        try
        {
            var folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
            if (!string.IsNullOrEmpty(folder)) Directory.CreateDirectory(folder);
            var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
            _writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SecretsPSException("LogFileUnwritable", ErrorKind.WriteError,
                Localized.Format(Messages.LogFileUnwritable, path, e.Message), e, path);
        }
    }

    public string Path { get; }
    public string LoggerName { get; }

    /// <summary>'' names the file secrets_yyyyMMdd_HHmmss.log in the current folder (the seed's --logfile "").</summary>
    public static string ResolvePath(string logFile, string currentFolder, DateTime? now = null) =>
        logFile.Length == 0
            ? System.IO.Path.Combine(currentFolder, "secrets_" + (now ?? DateTime.Now).ToString("yyyyMMdd_HHmmss", CultureInfo.InvariantCulture) + ".log")
            : System.IO.Path.GetFullPath(logFile, currentFolder);

    public static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Debug => "DEBUG",
        LogLevel.Info => "INFO",
        LogLevel.Warning => "WARNING",
        _ => "ERROR",
    };

    public void Write(LogLevel level, string message)
    {
        var line = Format(DateTime.Now, LoggerName, level, message);
        lock (_gate) _writer.WriteLine(line);
    }

    public static string Format(DateTime time, string logger, LogLevel level, string message) =>
        time.ToString("yyyy-MM-dd HH:mm:ss,fff", CultureInfo.InvariantCulture) + " - " + logger + " - " + LevelName(level) + " - " +
        message.Replace("\r\n", " ", StringComparison.Ordinal).Replace('\n', ' ').Replace('\r', ' ');

    public void Dispose()
    {
        lock (_gate) _writer.Dispose();
    }
}
