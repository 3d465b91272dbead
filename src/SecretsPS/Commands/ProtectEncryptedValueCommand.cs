using System.Management.Automation;
using System.Runtime.InteropServices;
using System.Security;
using System.Text;
using SecretsPS.Core;
using SecretsPS.Core.Config;

namespace SecretsPS.Commands;

/// <summary>What the application's EncryptedString does on save: text (or a SecureString) in, the stored value out.</summary>
[Cmdlet(VerbsSecurity.Protect, "EncryptedValue")]
[OutputType(typeof(string))]
public sealed class ProtectEncryptedValueCommand : KeyFileCmdlet
{
    /// <summary>A string or a SecureString.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [AllowEmptyString]
    [AllowNull]
    public PSObject? Value { get; set; }

    /// <summary>Encrypt with this version instead of the active one.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(VersionCompleter))]
    public string? Version { get; set; }

    private KeyConfiguration? _config;

    protected override void Begin()
    {
        _config = KeyConfiguration.Load(ResolveKeyFile(mustExist: true));
        if (Version is not null) _config.Ring.Get(Version);
    }

    protected override void Process()
    {
        byte[]? plaintext = null;
        try
        {
            plaintext = Value?.BaseObject switch
            {
                SecureString s => SecureStringBytes(s),
                string s when !string.IsNullOrWhiteSpace(s) => Encoding.UTF8.GetBytes(s),
                null or string => throw new SecretsPSException(ErrorIds.ValueEmpty, ErrorKind.InvalidArgument,
                    CommandMessages.ValueToProtectEmpty),
                _ => throw new SecretsPSException(ErrorIds.ValueTypeUnsupported, ErrorKind.InvalidArgument,
                    Localized.Format(CommandMessages.ValueTypeUnsupported, Value.BaseObject.GetType().Name)),
            };
            WriteObject(_config!.Ring.Protect(plaintext, Version));
        }
        catch (SecretsPSException e)
        {
            Error(e, null);
        }
        finally
        {
            if (plaintext is not null) System.Security.Cryptography.CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    internal static byte[] SecureStringBytes(SecureString secure)
    {
        var ptr = Marshal.SecureStringToGlobalAllocUnicode(secure);
        try
        {
            unsafe
            {
                var chars = new ReadOnlySpan<char>((void*)ptr, secure.Length);
                var bytes = new byte[Encoding.UTF8.GetByteCount(chars)];
                Encoding.UTF8.GetBytes(chars, bytes);
                if (bytes.Length == 0)
                    throw new SecretsPSException(ErrorIds.ValueEmpty, ErrorKind.InvalidArgument, CommandMessages.SecureStringEmpty);
                return bytes;
            }
        }
        finally
        {
            Marshal.ZeroFreeGlobalAllocUnicode(ptr);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _config?.Dispose();
        base.Dispose(disposing);
    }
}
