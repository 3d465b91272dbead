namespace SecretsPS.Core.Config;

/// <summary>What <see cref="KeyFileStore.Edit"/> read under the lock: the file as it is now, before any change.</summary>
public sealed class KeyFileState
{
    private KeyFileDocument? _document;

    internal KeyFileState(string path, string target, byte[]? bytes)
    {
        Path = path;
        Target = target;
        Bytes = bytes;
    }

    /// <summary>The path the caller named (full).</summary>
    public string Path { get; }

    /// <summary>The file actually read and replaced: the final target when <see cref="Path"/> is a symbolic link.</summary>
    public string Target { get; }

    /// <summary>The current bytes; null when the file does not exist (only when the edit may create it).</summary>
    public byte[]? Bytes { get; }

    public bool Exists => Bytes is not null;

    /// <summary>The current content, parsed on first use (a caller that replaces the whole file never parses it).</summary>
    public KeyFileDocument Document => _document ??= KeyFileStore.ParseBytes(
        Bytes ?? throw new InvalidOperationException("the key file does not exist"), Target);
}

/// <summary>Handed to an edit's verification, after the new file is in place and while the lock is still held.</summary>
/// <param name="Before">The previous bytes (null when the edit created the file): what a failed verification restores.</param>
public sealed record KeyFileWritten(string Path, string Target, byte[]? Before, string? BackupPath);

/// <summary>The outcome of <see cref="KeyFileStore.Edit"/>: whether anything was written, and the backup of the previous file.</summary>
public sealed record KeyFileEditResult(string Path, string Target, bool Written, string? BackupPath);
