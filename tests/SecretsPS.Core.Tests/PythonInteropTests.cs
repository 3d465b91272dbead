using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using SecretsPS.Core.Crypto;
using Xunit.Abstractions;

namespace SecretsPS.Core.Tests;

/// <summary>
/// FORMATS.md §2–§4 against an independent implementation: tests/interop/secretsps_ref.py, written on
/// Python's cryptography package. Each side decrypts what the other encrypts, for every key derivation.
/// </summary>
/// <remarks>
/// The key file is written here by hand (FORMATS.md §1) and the C# side derives its keys straight
/// from the same bytes, so the comparison does not depend on SecretsPS's own key-file reader.
/// Where python3 or its cryptography package is missing, the tests say so in their output and pass:
/// xunit 2 cannot skip at run time.
/// </remarks>
public sealed class PythonInteropTests : IDisposable
{
    private const int KeySize = 32;
    private const int SaltSize = 16;
    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromSeconds(60);

    private static readonly Lazy<string?> PythonUnavailableReason = new(FindUnavailableReason);

    private static readonly string[] Plaintexts =
    [
        "plain ASCII value",
        "",
        "São Paulo — ção 日本語 🔑",
        "two\nlines\r\nand a tab\t",
        string.Concat(Enumerable.Range(0, 1000).Select(i => (char)('a' + i % 26))),
    ];

    private readonly ITestOutputHelper _output;
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("secretsps-interop-");

    public PythonInteropTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _folder.Delete(recursive: true);

    [Theory]
    [InlineData("hkdf-sha256")]
    [InlineData("pbkdf2-sha256:1000")]
    [InlineData("raw")]
    public void Python_decrypts_what_SecretsPS_encrypts(string kdf)
    {
        if (PythonMissing())
        {
            return;
        }

        using var ring = TestKeyRing.Create(kdf, _folder);
        var stored = new List<string>();
        foreach (string version in new[] { "v2", "v1" })
        {
            foreach (string plaintext in Plaintexts)
            {
                string token = ring.Keys[version].Encrypt(Encoding.UTF8.GetBytes(plaintext));
                string text = StoredValue.Create(version, token).ToString();

                // Readers accept a stored value without its padding (§4): give Python some of those.
                stored.Add(version == "v1" ? text.TrimEnd('=') : text);
            }
        }

        string[] hex = RunPython(["decrypt", "--key-file", ring.Path], stored);

        string[] expected = [.. Plaintexts, .. Plaintexts];
        Assert.Equal(expected, hex.Select(h => Encoding.UTF8.GetString(Convert.FromHexString(h))));
    }

    [Theory]
    [InlineData("hkdf-sha256")]
    [InlineData("pbkdf2-sha256:1000")]
    [InlineData("raw")]
    public void SecretsPS_decrypts_what_Python_encrypts(string kdf)
    {
        if (PythonMissing())
        {
            return;
        }

        using var ring = TestKeyRing.Create(kdf, _folder);
        string[] input = Plaintexts.Select(p => Convert.ToHexString(Encoding.UTF8.GetBytes(p))).ToArray();

        string[] active = RunPython(["encrypt", "--key-file", ring.Path], input);
        string[] older = RunPython(["encrypt", "--key-file", ring.Path, "--version", "v1"], input);

        AssertDecryptsTo(ring, "v2", active);
        AssertDecryptsTo(ring, "v1", older);
    }

    [Fact]
    public void Python_refuses_a_value_that_does_not_authenticate_and_does_not_echo_it()
    {
        if (PythonMissing())
        {
            return;
        }

        using var ring = TestKeyRing.Create("hkdf-sha256", _folder);
        using var stranger = new FernetKey(RandomNumberGenerator.GetBytes(FernetKey.Size));
        string forged = StoredValue.Create("v2", stranger.Encrypt("x"u8)).ToString();

        PythonResult result = StartPython(["decrypt", "--key-file", ring.Path], [forged]);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("does not authenticate", result.Error);
        Assert.DoesNotContain(forged, result.Error);
    }

    private static void AssertDecryptsTo(TestKeyRing ring, string version, string[] storedValues)
    {
        Assert.Equal(Plaintexts.Length, storedValues.Length);
        for (int i = 0; i < Plaintexts.Length; i++)
        {
            StoredValue value = StoredValue.Parse(storedValues[i]);
            Assert.Equal(version, value.Version);
            Assert.Equal(storedValues[i], value.ToString()); // Python writes the canonical padded form too
            Assert.Equal(Plaintexts[i], Encoding.UTF8.GetString(ring.Keys[version].Decrypt(value.Token)));
        }
    }

    private bool PythonMissing()
    {
        string? reason = PythonUnavailableReason.Value;
        if (reason is null)
        {
            return false;
        }

        _output.WriteLine($"NOT RUN: {reason} The Python interoperability check needs python3 with the cryptography package.");
        return true;
    }

    private string[] RunPython(IReadOnlyList<string> arguments, IEnumerable<string> stdinLines)
    {
        PythonResult result = StartPython(arguments, stdinLines);
        Assert.True(result.ExitCode == 0, $"secretsps_ref.py {arguments[0]} exited with {result.ExitCode}: {result.Error}");

        string[] lines = result.Output.Split('\n');
        return lines[^1].Length == 0 ? lines[..^1] : lines;
    }

    private static PythonResult StartPython(IReadOnlyList<string> arguments, IEnumerable<string> stdinLines)
    {
        var start = new ProcessStartInfo(FindOnPath("python3")!)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardInputEncoding = new UTF8Encoding(false),
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardErrorEncoding = new UTF8Encoding(false),
        };
        start.ArgumentList.Add(RepoPaths.InteropScript);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The key file alone must decide: §1 lets the environment override it.
        foreach (string name in start.Environment.Keys.ToList())
        {
            if (name == "ACTIVE_ENCRYPTION_VERSION" || name.StartsWith("ENCRYPTION_", StringComparison.Ordinal))
            {
                start.Environment.Remove(name);
            }
        }

        return Run(start, string.Concat(stdinLines.Select(line => line + "\n")));
    }

    private static PythonResult Run(ProcessStartInfo start, string stdin)
    {
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {start.FileName}.");
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(stdin);
        process.StandardInput.Close();

        if (!process.WaitForExit(ProcessTimeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{start.FileName} did not finish within {ProcessTimeout.TotalSeconds} seconds.");
        }

        return new PythonResult(process.ExitCode, output.GetAwaiter().GetResult(), error.GetAwaiter().GetResult());
    }

    private static string? FindUnavailableReason()
    {
        string? python = FindOnPath("python3");
        if (python is null)
        {
            return "python3 is not on PATH.";
        }

        var start = new ProcessStartInfo(python)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("import cryptography.fernet");
        PythonResult result = Run(start, string.Empty);
        return result.ExitCode == 0 ? null : $"python3 ({python}) cannot import cryptography.";
    }

    private static string? FindOnPath(string program)
    {
        string[] names = OperatingSystem.IsWindows() ? [program + ".exe", "python.exe"] : [program];
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator))
        {
            foreach (string name in names)
            {
                if (dir.Length > 0 && File.Exists(Path.Combine(dir, name)))
                {
                    return Path.Combine(dir, name);
                }
            }
        }

        return null;
    }

    private sealed record PythonResult(int ExitCode, string Output, string Error);

    /// <summary>A key file with versions v1 and v2 (active), and the Fernet keys SecretsPS derives for them.</summary>
    private sealed class TestKeyRing : IDisposable
    {
        private TestKeyRing(string path, Dictionary<string, FernetKey> keys)
        {
            Path = path;
            Keys = keys;
        }

        public string Path { get; }

        public Dictionary<string, FernetKey> Keys { get; }

        public static TestKeyRing Create(string kdfText, DirectoryInfo folder)
        {
            KeyDerivation kdf = KeyDerivation.Parse(kdfText);
            var keys = new Dictionary<string, FernetKey>();
            var file = new StringBuilder()
                .Append("# Gerado em 2025-01-14T12:34:56Z\n")
                .Append("# MANTENHA ESTE ARQUIVO SEGURO - NÃO VERSIONE EM GIT\n")
                .Append('\n')
                .Append("ACTIVE_ENCRYPTION_VERSION=\"v2\"\n");

            foreach (string version in new[] { "v1", "v2" })
            {
                byte[] keyBytes = RandomNumberGenerator.GetBytes(KeySize);
                byte[] salt = RandomNumberGenerator.GetBytes(SaltSize);

                // v1 is written in standard base64 and, for the default derivation, without a KDF line
                // (absent means hkdf-sha256); v2 in unpadded base64url, which readers also accept.
                bool standard = version == "v1";
                file.Append($"ENCRYPTION_KEYS__{version}=\"{Encode(keyBytes, standard)}\"\n")
                    .Append($"ENCRYPTION_SALT__{version}=\"{Encode(salt, standard)}\"\n")
                    .Append($"ENCRYPTION_SALT_HASH__{version}=\"{Convert.ToHexString(SHA256.HashData(salt)).ToLowerInvariant()}\"\n");
                if (!(standard && kdf.Equals(KeyDerivation.HkdfSha256)))
                {
                    file.Append($"ENCRYPTION_KDF__{version}=\"{kdf.Name}\"\n");
                }

                file.Append($"ENCRYPTION_CREATED__{version}=\"2025-01-14T12:34:5{version[1]}Z\"\n");

                byte[] fernetKey = kdf.DeriveFernetKey(keyBytes, salt);
                keys[version] = new FernetKey(fernetKey);
                CryptographicOperations.ZeroMemory(fernetKey);
            }

            string path = System.IO.Path.Combine(folder.FullName, $".env.crypto.{Guid.NewGuid():N}");
            File.WriteAllText(path, file.ToString(), new UTF8Encoding(false));
            return new TestKeyRing(path, keys);
        }

        public void Dispose()
        {
            foreach (FernetKey key in Keys.Values)
            {
                key.Dispose();
            }
        }

        private static string Encode(byte[] bytes, bool standard) =>
            standard ? Convert.ToBase64String(bytes) : Base64Url.Encode(bytes).TrimEnd('=');
    }
}
