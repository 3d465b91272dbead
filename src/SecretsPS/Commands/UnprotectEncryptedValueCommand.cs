using System.Management.Automation;
using System.Security;
using SecretsPS.Core;
using SecretsPS.Core.Config;

namespace SecretsPS.Commands;

/// <summary>What the application's EncryptedString does on load: the stored value in, the text out.</summary>
[Cmdlet(VerbsSecurity.Unprotect, "EncryptedValue")]
[OutputType(typeof(string), typeof(SecureString))]
public sealed class UnprotectEncryptedValueCommand : KeyFileCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [AllowEmptyString]
    [AllowNull]
    public string? Value { get; set; }

    /// <summary>Return a SecureString instead of plain text.</summary>
    [Parameter]
    public SwitchParameter AsSecureString { get; set; }

    private KeyConfiguration? _config;

    protected override void Begin() => _config = KeyConfiguration.Load(ResolveKeyFile(mustExist: true));

    protected override void Process()
    {
        try
        {
            if (!AsSecureString)
            {
                WriteObject(_config!.Ring.UnprotectToString(Value));
                return;
            }
            // Bytes to chars to SecureString, clearing both buffers: the plaintext never becomes a .NET string.
            var bytes = _config!.Ring.Unprotect(Value);
            char[]? chars = null;
            try
            {
                chars = new System.Text.UTF8Encoding(false, true).GetChars(bytes);
                var secure = new SecureString();
                foreach (var c in chars) secure.AppendChar(c);
                secure.MakeReadOnly();
                WriteObject(secure);
            }
            catch (System.Text.DecoderFallbackException e)
            {
                throw new SecretsPSException(ErrorIds.PlaintextNotUtf8, ErrorKind.InvalidData, CommandMessages.PlaintextNotUtf8, e);
            }
            finally
            {
                System.Security.Cryptography.CryptographicOperations.ZeroMemory(bytes);
                if (chars is not null) Array.Clear(chars);
            }
        }
        catch (SecretsPSException e)
        {
            Error(e, null);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _config?.Dispose();
        base.Dispose(disposing);
    }
}
