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
    }

    public RowOutcome Transform(string value, out string? newValue, out string? reason)
    {
        newValue = null;
        reason = null;
        if (StoredValue.TryParse(value, out var stored))
        {
            if (stored.Version == _target.Name) return RowOutcome.AlreadyAtTarget;
            if (!_ring.TryGet(stored.Version, out var source))
            {
                reason = $"ValueVersionUnknown: the value names version '{stored.Version}', which is not in the key file";
                return RowOutcome.Failed;
            }
            try
            {
                newValue = StoredValue.Create(_target.Name, source.FernetKey.Reencrypt(stored.Token, _target.FernetKey)).ToString();
            }
            catch (TokenInvalidException e)
            {
                reason = $"{e.ErrorId}: the value cannot be decrypted with version '{stored.Version}'";
                return RowOutcome.Failed;
            }
        }
        else if (_encryptPlaintext)
        {
            newValue = _ring.Protect(value, _target.Name);
        }
        else
        {
            reason = "NotCiphertext: the value is not a stored ciphertext (use -EncryptPlaintext to migrate a plaintext column)";
            return RowOutcome.Failed;
        }

        if (_maxLength is { } max && newValue.Length > max)
        {
            reason = $"ValueTooLong: the new value is {newValue.Length} characters and the column holds {max}; widen the column";
            newValue = null;
            return RowOutcome.Failed;
        }
        return RowOutcome.Reencrypted;
    }
}
