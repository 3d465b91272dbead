using SecretsPS.Core.Crypto;

namespace SecretsPS.Core.Reencryption;

public enum RowOutcome
{
    Reencrypted,
    AlreadyAtTarget,
    Failed,
}

/// <summary>
/// What happens to one stored value: re-encrypted to the target version (keeping the token's timestamp),
/// left alone when already there, or refused with a reason that never contains the value.
/// </summary>
public sealed class ValueTransformer
{
    private readonly KeyRing _ring;
    private readonly KeyVersion _target;
    private readonly bool _encryptPlaintext;
    private readonly int? _maxLength;

    public ValueTransformer(KeyRing ring, KeyVersion target, bool encryptPlaintext, int? maxLength)
    {
        _ring = ring;
        _target = target;
        _encryptPlaintext = encryptPlaintext;
        _maxLength = maxLength;
        _age = ring.Versions.Select((v, i) => (v.Name, i)).ToDictionary(x => x.Name, x => x.i, StringComparer.Ordinal);
        _olderThanTarget = ring.Versions.Where(v => _age[v.Name] < _age[target.Name]).ToArray();
    }

    // The versions whose values move to the target: looked up by the value's prefix without making a string of it.
    private readonly KeyVersion[] _olderThanTarget;

    // Position of each version in age order (oldest 0), computed once rather than per value.
    private readonly Dictionary<string, int> _age;

    private bool IsNewer(KeyVersion version, KeyVersion than) => _age[version.Name] > _age[than.Name];

    /// <summary>
    /// One stored value, read as the application reads it (FORMATS.md §4, <see cref="StoredValue.TryParseAsApplication"/>):
    /// <list type="bullet">
    /// <item>A value the application can decrypt, whatever its surrounding whitespace or missing padding, is ciphertext: an
    /// older version moves to the target in the canonical form (<see cref="StoredValue.ToString"/>). A value at the target
    /// or a newer version is left as it is, even when not canonical (surrounding whitespace, no padding): the application
    /// reads it, the column's count by version must trim the same characters (<see cref="ApplicationWhitespace.Characters"/>),
    /// and rewriting it would only churn rows.</item>
    /// <item>A value whose stripped text starts with a version of the key ring and a colon but does not parse, or (below the
    /// target; values at or beyond it are not decrypted, as before) does not authenticate, is damaged ciphertext: a row
    /// error, always — also under -EncryptPlaintext.</item>
    /// <item>A well-formed value under a version the ring does not hold (a lost key), or anything whose text after its first
    /// colon begins like a stored token (<c>Z0FBQUFB</c>) whatever the prefix, is someone's ciphertext: a row error too,
    /// also under -EncryptPlaintext.</item>
    /// <item>Anything else is plaintext: encrypted as it is (whitespace included) under -EncryptPlaintext, else NotCiphertext.</item>
    /// </list>
    /// The reasons never contain the value.
    /// </summary>
    public RowOutcome Transform(string value, out string? newValue, out RowError? reason)
    {
        newValue = null;
        reason = null;

        // The application strips surrounding whitespace (Python's str.strip()) before it reads a value; so does this. A
        // canonical value has none: two look-ups at its ends, no copy.
        ReadOnlySpan<char> trimmed = ApplicationWhitespace.HasSurrounding(value) ? ApplicationWhitespace.Trim(value.AsSpan()) : value;

        if (TryReencryptQuickly(trimmed) is { } moved)
        {
            newValue = moved;
        }
        else if (StoredValue.TryParseAsApplication(value, out var stored))
        {
            if (stored.Version == _target.Name) return RowOutcome.AlreadyAtTarget;
            if (!_ring.TryGet(stored.Version, out var source))
            {
                // Also under -EncryptPlaintext: a well-formed token under a version this key file lacks is ciphertext under a
                // lost (or not yet copied) key, not plaintext. Encrypting it would bury it: the application would decrypt it
                // to the old ciphertext's text, and nothing would say that the row had ever been ciphertext.
                reason = StoredText.Reason("ValueVersionUnknown", nameof(Messages.RowReasonVersionUnknown), stored.Version);
                return RowOutcome.Failed;
            }
            // A value already at a newer version than the target (written after a later rotation) is never moved back.
            if (IsNewer(source, _target)) return RowOutcome.AlreadyAtTarget;
            try
            {
                newValue = StoredValue.Create(_target.Name, source.FernetKey.Reencrypt(stored.Token, _target.FernetKey)).ToString();
            }
            catch (TokenInvalidException e)
            {
                reason = StoredText.Reason(e.ErrorId, nameof(Messages.RowReasonCannotDecrypt), stored.Version);
                return RowOutcome.Failed;
            }
        }
        else if (KnownVersionPrefix(trimmed) is { } known)
        {
            // "<known version>:" and then something that is not base64url of a token (garbage, junk inside or after it,
            // a cut-off payload): damaged ciphertext, never plaintext, whatever -EncryptPlaintext says.
            reason = StoredText.Reason(CiphertextDamaged, nameof(Messages.RowReasonDamagedPrefix), known.Name);
            return RowOutcome.Failed;
        }
        else if (StoredValue.HasTokenPayload(trimmed))
        {
            // What begins like a stored token's payload after a prefix that is no version of the ring: a well-formed one
            // under a valid name parsed above (ValueVersionUnknown), so this is a damaged prefix or a damaged payload of
            // someone's ciphertext. Not plaintext either: encrypting it would bury it.
            reason = StoredText.Reason(CiphertextDamaged, nameof(Messages.RowReasonDamagedToken));
            return RowOutcome.Failed;
        }
        else if (_encryptPlaintext)
        {
            // The plaintext is the value as the column holds it, surrounding whitespace included.
            newValue = _ring.Protect(value, _target.Name);
        }
        else
        {
            reason = StoredText.Reason(ErrorIds.NotCiphertext, nameof(Messages.RowReasonNotCiphertext));
            return RowOutcome.Failed;
        }

        if (_maxLength is { } max && newValue!.Length > max)
        {
            reason = StoredText.Reason("ValueTooLong", nameof(Messages.RowReasonTooLong), newValue.Length, max);
            newValue = null;
            return RowOutcome.Failed;
        }
        return RowOutcome.Reencrypted;
    }

    /// <summary>ErrorId of a value that starts like ciphertext (a known version and a colon, or a token payload) but is not readable.</summary>
    public const string CiphertextDamaged = ErrorIds.CiphertextDamaged;

    /// <summary>
    /// The ring's version whose name is the text before the first colon of the stripped value, if any: exactly (ordinal,
    /// case-sensitive, as the application's dictionary lookup), so <c>https://x</c>, <c>user:secret</c> or <c>V1:…</c> under a
    /// ring of <c>v1</c> have no known version prefix. Compares spans, makes no string.
    /// </summary>
    private KeyVersion? KnownVersionPrefix(ReadOnlySpan<char> trimmed)
    {
        int colon = trimmed.IndexOf(':');
        if (colon <= 0) return null;
        var prefix = trimmed[..colon];
        var versions = _ring.Versions;
        for (int i = 0; i < versions.Count; i++)
        {
            if (prefix.SequenceEqual(versions[i].Name)) return versions[i];
        }
        return null;
    }

    /// <summary>
    /// The common case (a well-formed value of an older version, already stripped of the application's whitespace) without
    /// the intermediate strings of the general path; null for anything else, which the general path then handles and
    /// explains. Exactly equivalent to the general path: both read the same stripped text.
    /// </summary>
    private string? TryReencryptQuickly(ReadOnlySpan<char> trimmed)
    {
        int colon = trimmed.IndexOf(':');
        if (colon <= 0) return null;
        var prefix = trimmed[..colon];
        foreach (var source in _olderThanTarget)
        {
            if (prefix.SequenceEqual(source.Name))
                return StoredValue.TryReencryptPayload(trimmed[(colon + 1)..], source.FernetKey, _target.FernetKey, _target.Name);
        }
        return null;
    }
}
