namespace SecretsPS.Core.Reencryption;

/// <summary>
/// Start-Reencryption's -BatchSize and -CommitEvery when they are not given, chosen from measurements (bench/RESULTS.md,
/// "The defaults"): each transaction stays well under a second, with fewer round trips and commits than the original
/// CLI's 500/1,000, which were sized for a slow ORM loop. A row stays locked from its page's write to the commit: at most
/// one transaction.
/// </summary>
public static class ReencryptionDefaults
{
    public const int BatchSize = 2000;
    public const int CommitEvery = 10000;
}
