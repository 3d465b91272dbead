namespace SecretsPS.Core.Crypto;

/// <summary>
/// The age order of key versions (FORMATS.md §1), in one place for every reader: the key ring (and so the
/// re-encryption engine's "older than the target"), the listing, the validator and the cleanup.
/// <list type="bullet">
/// <item>The base order is the order in which the versions first appear in the key file; versions defined only in
/// the environment come after the file's, in <see cref="NameComparer"/> order (number-aware: v9 before v10).</item>
/// <item>The age order IS the base order. ENCRYPTION_CREATED__ never moves a version: a version with a creation time
/// never goes before one that appears earlier without one, and when two creation times disagree with the file order
/// the file order wins — <see cref="Disagreements{T}"/> reports those pairs so Test-EncryptionConfig can warn.</item>
/// <item>A version whose place is unknown (<see cref="UnknownPlace"/>, as a freshly generated one has) sorts last:
/// it is never taken for the oldest.</item>
/// </list>
/// </summary>
public static class VersionOrder
{
    /// <summary>The Order of a version whose place in the file is not known: after every placed one.</summary>
    public const int UnknownPlace = int.MaxValue;

    /// <summary>
    /// Natural, number-aware order of version names: runs of ASCII digits compare by their numeric value (v9 before
    /// v10, v2-prod before v10-prod), everything else ordinally (names are case-sensitive). Names that compare equal
    /// that way (v01 and v1) fall back to the ordinal order, so the order is total and the same on every machine.
    /// </summary>
    public static IComparer<string> NameComparer { get; } = new NaturalNameComparer();

    /// <summary>
    /// The base order of the names: <paramref name="inFileOrder"/> as given (order of first appearance in the file),
    /// then the names only the environment defines, in <see cref="NameComparer"/> order. A name in both counts as the file's.
    /// </summary>
    public static IReadOnlyList<string> BaseOrder(IEnumerable<string> inFileOrder, IEnumerable<string> environmentOnly)
    {
        var result = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in inFileOrder)
            if (seen.Add(name)) result.Add(name);
        result.AddRange(environmentOnly.Where(seen.Add).OrderBy(n => n, NameComparer));
        return result;
    }

    /// <summary>Oldest first: by each version's place in the base order; equal places keep the order given.</summary>
    public static IReadOnlyList<T> OldestFirst<T>(IEnumerable<T> versions, Func<T, int> order) =>
        versions.OrderBy(order).ToList(); // OrderBy is stable

    /// <summary>Oldest first, by <see cref="KeyVersion.Order"/>.</summary>
    public static IReadOnlyList<KeyVersion> OldestFirst(IEnumerable<KeyVersion> versions) => OldestFirst(versions, v => v.Order);

    /// <summary>
    /// The versions whose creation times say the opposite of the base order: each <c>Later</c> comes after some version
    /// in the base order yet was created before it, and is paired with the one of those created last (<c>Earlier</c>).
    /// One pair per such version, in base order, so a file of n versions gives at most n - 1 (linear, whatever the file).
    /// Versions without a creation time take part in no pair. The order used stays the base order.
    /// </summary>
    public static IReadOnlyList<VersionOrderDisagreement> Disagreements<T>(IEnumerable<T> versions, Func<T, string> name,
        Func<T, int> order, Func<T, DateTimeOffset?> created)
    {
        var result = new List<VersionOrderDisagreement>();
        (string Name, DateTimeOffset Created)? latestSoFar = null; // the earlier-appearing version created last
        foreach (var v in OldestFirst(versions, order))
        {
            if (created(v) is not { } c) continue;
            if (latestSoFar is { } l && c < l.Created)
                result.Add(new VersionOrderDisagreement(l.Name, l.Created, name(v), c));
            if (latestSoFar is null || c > latestSoFar.Value.Created) latestSoFar = (name(v), c);
        }
        return result;
    }

    /// <summary>The disagreements among built versions, by <see cref="KeyVersion.Order"/> and <see cref="KeyVersion.Created"/>.</summary>
    public static IReadOnlyList<VersionOrderDisagreement> Disagreements(IEnumerable<KeyVersion> versions) =>
        Disagreements(versions, v => v.Name, v => v.Order, v => v.Created);

    private sealed class NaturalNameComparer : IComparer<string>
    {
        public int Compare(string? x, string? y)
        {
            if (ReferenceEquals(x, y)) return 0;
            if (x is null) return -1;
            if (y is null) return 1;
            int i = 0, j = 0;
            while (i < x.Length && j < y.Length)
            {
                if (char.IsAsciiDigit(x[i]) && char.IsAsciiDigit(y[j]))
                {
                    int xs = i, ys = j;
                    while (i < x.Length && char.IsAsciiDigit(x[i])) i++;
                    while (j < y.Length && char.IsAsciiDigit(y[j])) j++;
                    // Compare the numbers without parsing them (any length): drop leading zeros, then more digits is
                    // larger, then digit by digit.
                    var a = x.AsSpan(xs, i - xs).TrimStart('0');
                    var b = y.AsSpan(ys, j - ys).TrimStart('0');
                    if (a.Length != b.Length) return a.Length.CompareTo(b.Length);
                    int digits = a.SequenceCompareTo(b);
                    if (digits != 0) return Math.Sign(digits);
                }
                else
                {
                    int c = x[i].CompareTo(y[j]);
                    if (c != 0) return c;
                    i++;
                    j++;
                }
            }
            if (i < x.Length || j < y.Length) return i < x.Length ? 1 : -1;
            return string.CompareOrdinal(x, y) switch { < 0 => -1, > 0 => 1, _ => 0 };
        }
    }
}

/// <summary>Two versions whose ENCRYPTION_CREATED__ times contradict the file order (FORMATS.md §1): Later appears after
/// Earlier, yet says it was created before it. The file order wins: Earlier is the older.</summary>
public sealed record VersionOrderDisagreement(string Earlier, DateTimeOffset EarlierCreated, string Later, DateTimeOffset LaterCreated);
