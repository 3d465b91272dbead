namespace SecretsPS.Core.Config;

/// <summary>
/// One check of Test-EncryptionConfig: what was checked, for which version, and its outcome (Passed, Warning or Failed,
/// as a name so that ConvertTo-Json writes it).
/// </summary>
public sealed class ConfigCheck
{
    public ConfigCheck(string check, string? version, CheckStatus status, string message, string? errorId = null)
    {
        Check = check;
        Version = version;
        StatusKind = status;
        Message = message;
        ErrorId = errorId;
    }

    /// <summary>Passed, Warning or Failed.</summary>
    public string Status => StatusKind.ToString();

    internal CheckStatus StatusKind { get; }

    public string Check { get; }
    public string? Version { get; }
    public string Message { get; }
    public string? ErrorId { get; }

    public override string ToString() => $"{Status} {Check}: {Message}";
}
