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
            throw new SecretsPSException(ErrorIds.LogFileUnwritable, ErrorKind.WriteError,
                Localized.Format(Messages.LogFileUnwritable, path, e.Message), e, path);
        }
    }

    public string Path { get; }
    public string LoggerName { get; }

    /// <summary>'' names the file secrets_yyyyMMdd_HHmmss.log in the current folder (the original Flask CLI's --logfile "").</summary>
    public static string ResolvePath(string logFile, string currentFolder, DateTime? now = null) =>
        logFile.Length == 0
            ? System.IO.Path.Combine(currentFolder, "secrets_" + (now ?? DateTime.Now).ToString("yyyyMMdd_HHmmss", CultureInfo.InvariantCulture) + ".log")
            : System.IO.Path.GetFullPath(logFile, currentFolder);

    /// <summary>
    /// FORMATS.md §6: -LogFile never names the key file, one of its backups (<c>&lt;file&gt;.backup_*</c>), its lock
    /// (<c>&lt;file&gt;.lock</c>) or its audit journal (<c>&lt;file&gt;.audit.jsonl</c>). Both paths are compared fully
    /// resolved (every symbolic link on the way followed, the key file's own names taken beside the link and beside its
    /// target), with the case rules of the folder's file system. Throws <c>LogFileIsKeyFile</c> (InvalidArgument).
    /// </summary>
    public static void RefuseKeyFileNames(string logPath, string keyFile)
    {
        if (NamesKeyFile(logPath, keyFile))
            throw new SecretsPSException(ErrorIds.LogFileIsKeyFile, ErrorKind.InvalidArgument,
                Localized.Format(Messages.LogFileIsKeyFile, logPath, keyFile), target: logPath);
    }

    public static bool NamesKeyFile(string logPath, string keyFile)
    {
        var log = RealPath(System.IO.Path.GetFullPath(logPath));
        var logFolder = System.IO.Path.GetDirectoryName(log) ?? "";
        var logName = System.IO.Path.GetFileName(log);
        var full = System.IO.Path.GetFullPath(keyFile);
        foreach (var key in new[] { full, RealPath(full) }.Distinct(StringComparer.Ordinal))
        {
            var keyFolder = RealPath(System.IO.Path.GetDirectoryName(key) ?? "");
            var ignoreCase = IgnoresCase(keyFolder);
            var comparison = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
            if (!string.Equals(keyFolder, logFolder, comparison)) continue;
            var keyName = System.IO.Path.GetFileName(key);
            if (string.Equals(logName, keyName, comparison)
                || string.Equals(logName, keyName + ".lock", comparison)
                || string.Equals(logName, keyName + ".audit.jsonl", comparison)
                || logName.StartsWith(keyName + ".backup_", comparison))
                return true;
        }
        return false;
    }

    /// <summary>The path with every symbolic link on the way resolved (realpath); a part that does not exist is kept as given.</summary>
    internal static string RealPath(string fullPath)
    {
        var root = System.IO.Path.GetPathRoot(fullPath) ?? "";
        var pending = new Stack<string>(Enumerable.Reverse(Parts(fullPath[root.Length..])));
        var current = root;
        var links = 0;
        while (pending.Count > 0)
        {
            var part = pending.Pop();
            if (part == ".") continue;
            if (part == "..") { current = System.IO.Path.GetDirectoryName(current) ?? current; continue; }
            var next = System.IO.Path.Combine(current, part);
            string? target = null;
            try { target = new FileInfo(next).LinkTarget; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            if (target is null || ++links > 40)
            {
                current = next;
                continue;
            }
            // The link's text, relative to the folder holding it, is walked part by part in its place.
            var resolved = System.IO.Path.GetFullPath(target, current.Length == 0 ? root : current);
            var resolvedRoot = System.IO.Path.GetPathRoot(resolved) ?? "";
            foreach (var p in Enumerable.Reverse(Parts(resolved[resolvedRoot.Length..]))) pending.Push(p);
            current = resolvedRoot;
        }
        return current;
    }

    private static string[] Parts(string path) =>
        path.Split(new[] { System.IO.Path.DirectorySeparatorChar, System.IO.Path.AltDirectorySeparatorChar }, StringSplitOptions.RemoveEmptyEntries);

    /// <summary>
    /// Whether names in this folder ignore case: an entry whose name, case swapped, also opens without being listed.
    /// A folder with no such entry follows the platform (Windows and macOS ignore case by default).
    /// </summary>
    private static bool IgnoresCase(string folder)
    {
        try
        {
            var names = Directory.EnumerateFileSystemEntries(folder).Select(System.IO.Path.GetFileName).ToHashSet(StringComparer.Ordinal);
            foreach (var name in names)
            {
                var swapped = new string(name!.Select(c => char.IsUpper(c) ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c)).ToArray());
                if (swapped == name || names.Contains(swapped)) continue;
                return System.IO.Path.Exists(System.IO.Path.Combine(folder, swapped));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return OperatingSystem.IsWindows() || OperatingSystem.IsMacOS();
    }

    public static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Debug => "DEBUG",
        LogLevel.Info => "INFO",
        LogLevel.Warning => "WARNING",
        _ => "ERROR",
    };

    public void Write(LogLevel level, string message) => Write(level, message, DateTime.Now);

    /// <summary>An entry logged earlier, at <paramref name="time"/>, and held until the log could be opened.</summary>
    public void Write(LogLevel level, string message, DateTime time)
    {
        var line = Format(time, LoggerName, level, message);
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
