using System.Data.Common;
using System.Globalization;
using SecretsPS.Core.Crypto;
using SecretsPS.Core.Data;

namespace SecretsPS.Core.Reencryption;

/// <summary>
/// FORMATS.md §4a: the column counted by version in the database after a job's last page (the GROUP BY of
/// Get-EncryptedColumnStatus), judged in the key ring's version order. A job is 'finished' only when no readable value
/// is at a version older than its target; the engine's own counters are never the proof.
/// </summary>
public sealed class CompletionProof
{
    internal const string Marker = "counted at finish: ";
    internal const string NotCiphertextName = "(not ciphertext)";
    private const string OthersName = "(other versions)";

    /// <summary>
    /// Versions named one by one in the job's message; the rest are summed. The message column is bounded (2,000 characters
    /// on SQL Server) and a column can hold any number of prefixes.
    /// </summary>
    public const int MaxNamedVersions = 24;

    private CompletionProof(IReadOnlyList<KeyValuePair<string, long>> byVersion, long notCiphertext, long belowTarget, IReadOnlyList<string> olderVersions)
    {
        RowsByVersion = byVersion;
        NotCiphertext = notCiphertext;
        BelowTarget = belowTarget;
        OlderVersions = olderVersions;
    }

    /// <summary>Rows per version prefix, oldest version first (versions the key file does not have last).</summary>
    public IReadOnlyList<KeyValuePair<string, long>> RowsByVersion { get; }

    public long NotCiphertext { get; }

    /// <summary>Values at a version of the key ring older than the target: what a cleanup would make unreadable.</summary>
    public long BelowTarget { get; }

    /// <summary>The older versions that still hold values, oldest first.</summary>
    public IReadOnlyList<string> OlderVersions { get; }

    public bool Complete => BelowTarget == 0;

    /// <summary>The older versions that still hold values, for a message: the first few, then how many more.</summary>
    public string OlderVersionsText =>
        OlderVersions.Count <= 5 ? string.Join(", ", OlderVersions) : string.Join(", ", OlderVersions.Take(5)) + $" and {OlderVersions.Count - 5} more";

    public static CompletionProof Count(ISqlDialect dialect, DbConnection connection, ColumnTarget target, KeyRing ring, string targetVersion,
        CancellationToken cancellation = default)
    {
        var status = ColumnStatusReader.Read(dialect, connection, target.Table, target.Column, ring, cancellation);
        return From(status.RowsByVersion, status.NotCiphertext, ring, targetVersion);
    }

    public static CompletionProof From(IReadOnlyDictionary<string, long> counts, long notCiphertext, KeyRing ring, string targetVersion)
    {
        var order = ring.Versions.Select(v => v.Name).ToList();
        int targetAt = order.IndexOf(targetVersion);
        if (targetAt < 0) throw new ArgumentException($"The target version '{targetVersion}' is not in the key ring.", nameof(targetVersion));
        var byVersion = counts.Where(c => c.Value > 0)
            .OrderBy(c => order.IndexOf(c.Key) is var i and >= 0 ? i : int.MaxValue)
            .ThenBy(c => c.Key, StringComparer.Ordinal)
            .ToList();
        var older = byVersion.Where(c => order.IndexOf(c.Key) is var i && i >= 0 && i < targetAt).ToList();
        return new CompletionProof(byVersion, notCiphertext, older.Sum(c => c.Value), older.Select(c => c.Key).ToList());
    }

    /// <summary>ReencryptionIncomplete for a job that ended 'incomplete', saying what is left; null for any other job.</summary>
    public static SecretsPSException? IncompleteError(ReencryptJob job, KeyRing ring)
    {
        if (job.StatusKind != JobStatus.Incomplete || job.CountsAtFinish is not { } counts || !ring.TryGet(job.TargetVersion, out _)) return null;
        var proof = From(counts, 0, ring, job.TargetVersion);
        return new SecretsPSException(ErrorIds.ReencryptionIncomplete, ErrorKind.InvalidData,
            Localized.Format(Messages.JobProofIncomplete, job.Id, proof.BelowTarget, job.Target, job.TargetVersion,
                string.Join(", ", proof.RowsByVersion.Select(c => $"{c.Key}={c.Value.ToString(CultureInfo.InvariantCulture)}"))),
            target: job.Target);
    }

    /// <summary>The proof as the job row's message keeps it (machine-read: the same in every UI culture).</summary>
    public string ToText()
    {
        var parts = RowsByVersion.Take(MaxNamedVersions).Select(c => $"{c.Key}={c.Value.ToString(CultureInfo.InvariantCulture)}").ToList();
        if (RowsByVersion.Count > MaxNamedVersions)
            parts.Add($"{OthersName}={RowsByVersion.Skip(MaxNamedVersions).Sum(c => c.Value).ToString(CultureInfo.InvariantCulture)}");
        if (NotCiphertext > 0) parts.Add($"{NotCiphertextName}={NotCiphertext.ToString(CultureInfo.InvariantCulture)}");
        return Marker + (parts.Count == 0 ? "no values" : string.Join(", ", parts));
    }

    /// <summary>The counts a job's message recorded at its finish, or null when it recorded none (a job that has not ended, or ended before proofs).</summary>
    public static IReadOnlyDictionary<string, long>? Parse(string? message)
    {
        if (message is null) return null;
        int at = message.IndexOf(Marker, StringComparison.Ordinal);
        if (at < 0) return null;
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        var text = message[(at + Marker.Length)..];
        if (text.StartsWith("no values", StringComparison.Ordinal)) return result;
        foreach (var part in text.Split(", "))
        {
            int eq = part.LastIndexOf('=');
            if (eq <= 0 || !long.TryParse(part.AsSpan(eq + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n)) break;
            result[part[..eq]] = n;
        }
        return result;
    }
}
