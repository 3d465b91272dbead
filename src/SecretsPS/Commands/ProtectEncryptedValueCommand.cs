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

    /// <summary>Encrypt with this version instead of the active one; bound from a piped key version too (Get-EncryptionKey -Version v1 | …).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(VersionCompleter))]
    public string? Version { get; set; }

    private KeyConfiguration? _config;
    private string? _configPath;

    /// <summary>Key files named by piped objects (a version of another environment's file), loaded once each.</summary>
    private readonly Dictionary<string, KeyConfiguration> _pipedConfigs = new(StringComparer.Ordinal);

    /// <summary>Why the default key file could not be loaded, kept for the first record that does not name its own.</summary>
    private SecretsPSException? _noDefaultKeyFile;

    protected override void Begin()
    {
        try
        {
            _configPath = ResolveKeyFile(mustExist: true);
        }
        catch (SecretsPSException e) when (!CommandLineParameters.Contains(nameof(Path)))
        {
            // Piped key versions may name their key file (Get-EncryptionKey -Path x | …): the default is only needed by a
            // record that does not.
            _noDefaultKeyFile = e;
            return;
        }
        _config = KeyConfiguration.Load(_configPath);
        if (Version is not null) _config.Ring.Get(Version);
    }

    /// <summary>The key file of this record: a piped key version names its own file, which is the one its version is in.</summary>
    private KeyConfiguration ConfigForRecord()
    {
        if (Path is null || CommandLineParameters.Contains(nameof(Path)))
        {
            if (_noDefaultKeyFile is not null) throw _noDefaultKeyFile; // ends the command, as it did before the first record
            return _config!;
        }
        var path = ResolveKeyFile(mustExist: true);
        if (path == _configPath) return _config!;
        if (!_pipedConfigs.TryGetValue(path, out var config)) _pipedConfigs[path] = config = KeyConfiguration.Load(path);
        return config;
    }

    protected override void Process()
    {
        var config = ConfigForRecord();
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
            // A version bound from the pipeline is checked here, for its record: never the active one silently instead.
            var ring = config.Ring;
            if (Version is not null) ring.Get(Version);
            WriteObject(ring.Protect(plaintext, Version));
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
        if (disposing)
        {
            _config?.Dispose();
            foreach (var config in _pipedConfigs.Values) config.Dispose();
        }
        base.Dispose(disposing);
    }
}
