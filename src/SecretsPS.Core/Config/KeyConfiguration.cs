using SecretsPS.Core.Crypto;

namespace SecretsPS.Core.Config;

/// <summary>A key file read from disk, the environment laid over it, checked and ready to use.</summary>
public sealed class KeyConfiguration : IDisposable
{
    private KeyConfiguration(string path, KeySettings settings, KeyRing ring)
    {
        Path = path;
        Settings = settings;
        Ring = ring;
    }

    public string Path { get; }
    public KeySettings Settings { get; }
    public KeyRing Ring { get; }

    /// <param name="environment">Overlay variables; null reads the process environment.</param>
    public static KeyConfiguration Load(string path, IReadOnlyDictionary<string, string>? environment = null)
    {
        var document = KeyFileStore.ReadDocument(path);
        return FromDocument(path, document, environment ?? KeySettings.ProcessEnvironment());
    }

    public static KeyConfiguration FromDocument(string path, KeyFileDocument document, IReadOnlyDictionary<string, string>? environment)
    {
        var settings = KeySettings.From(document, environment);
        return new KeyConfiguration(path, settings, settings.BuildKeyRing(path));
    }

    public IReadOnlyList<KeyVersionInfo> Describe() =>
        Ring.Versions.Select(v => KeyVersionInfo.From(v, ReferenceEquals(v, Ring.Active), Path)).ToList();

    public void Dispose() => Ring.Dispose();
}
