namespace SecretsPS.Core;

/// <summary>
/// What kind of failure an error is. The cmdlets map each kind to a PowerShell ErrorCategory,
/// so the library can stay free of any PowerShell reference.
/// </summary>
public enum ErrorKind
{
    InvalidArgument,
    InvalidData,
    ObjectNotFound,
    ResourceExists,
    SecurityError,
    ResourceUnavailable,
    WriteError,
    InvalidOperation,
    PermissionDenied,
    LimitsExceeded,
    OperationStopped,
}

/// <summary>
/// Every failure the library reports on purpose. <see cref="ErrorId"/> is stable (scripts match on it);
/// the message says what went wrong and what to do, and never contains key material or plaintext.
/// </summary>
public class SecretsPSException : Exception
{
    public SecretsPSException(string errorId, ErrorKind kind, string message, Exception? innerException = null, string? target = null)
        : base(message, innerException)
    {
        ErrorId = errorId;
        Kind = kind;
        Target = target;
    }

    /// <summary>Stable identifier, e.g. <c>SaltIntegrityCheckFailed</c>.</summary>
    public string ErrorId { get; }

    public ErrorKind Kind { get; }

    /// <summary>What the error is about (a path, a version name, a row key): never a secret.</summary>
    public string? Target { get; }
}

/// <summary>A Fernet token that cannot be authenticated or decoded.</summary>
public sealed class TokenInvalidException : SecretsPSException
{
    public TokenInvalidException(string errorId, string message, Exception? innerException = null)
        : base(errorId, ErrorKind.InvalidData, message, innerException) { }
}

/// <summary>The key file (or its environment overlay) is missing, unreadable or inconsistent.</summary>
public sealed class KeyFileException : SecretsPSException
{
    public KeyFileException(string errorId, ErrorKind kind, string message, string? target = null, Exception? innerException = null)
        : base(errorId, kind, message, innerException, target) { }
}

/// <summary>A version name that the key ring does not hold.</summary>
public sealed class KeyVersionNotFoundException : SecretsPSException
{
    public KeyVersionNotFoundException(string version, string message)
        : base(ErrorIds.KeyVersionNotFound, ErrorKind.ObjectNotFound, message, null, version)
    {
        Version = version;
    }

    public string Version { get; }
}
