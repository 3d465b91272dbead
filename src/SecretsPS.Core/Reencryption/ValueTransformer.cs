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

    public RowOutcome Transform(string value, out string? newValue, out RowError? reason)
    {
        newValue = null;
        reason = null;
        if (TryReencryptQuickly(value) is { } moved)
        {
            newValue = moved;
        }
        else if (StoredValue.TryParse(value, out var stored))
        {
            if (stored.Version == _target.Name) return RowOutcome.AlreadyAtTarget;
            if (!_ring.TryGet(stored.Version, out var source))
            {
                reason = new("ValueVersionUnknown", $"the value names version '{stored.Version}', which is not in the key file");
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
                reason = new(e.ErrorId, $"the value cannot be decrypted with version '{stored.Version}'");
                return RowOutcome.Failed;
            }
        }
        else if (_encryptPlaintext)
        {
            newValue = _ring.Protect(value, _target.Name);
        }
        else
        {
            reason = new("NotCiphertext", "the value is not a stored ciphertext (use -EncryptPlaintext to migrate a plaintext column)");
            return RowOutcome.Failed;
        }

        if (_maxLength is { } max && newValue!.Length > max)
        {
            reason = new("ValueTooLong", $"the new value is {newValue.Length} characters and the column holds {max}; widen the column");
            newValue = null;
            return RowOutcome.Failed;
        }
        return RowOutcome.Reencrypted;
    }

    /// <summary>
    /// The common case (a well-formed value of an older version) without the intermediate strings of the general
    /// path; null for anything else, which the general path then handles and explains.
    /// </summary>
    private string? TryReencryptQuickly(string value)
    {
        int colon = value.IndexOf(':');
        if (colon <= 0) return null;
        var prefix = value.AsSpan(0, colon);
        foreach (var source in _olderThanTarget)
        {
            if (prefix.SequenceEqual(source.Name))
                return StoredValue.TryReencryptPayload(value.AsSpan(colon + 1), source.FernetKey, _target.FernetKey, _target.Name);
        }
        return null;
    }
}
