using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SecretsPS.Core.Tests;

/// <summary>
/// Certificates for the encrypted-backup tests, made by openssl (as an operator makes a recovery certificate), or by
/// .NET where openssl 3.0 cannot set the dates (an expired one).
/// </summary>
internal static class TestCertificates
{
    /// <summary>What Protect-CmsMessage requires: Key Encipherment and the Document Encryption enhanced key usage.</summary>
    public const string DocumentEncryption = "keyUsage=critical,keyEncipherment,dataEncipherment\nextendedKeyUsage=1.3.6.1.4.1.311.80.1\nsubjectKeyIdentifier=hash\n";

    /// <summary>A self-signed RSA certificate and its unencrypted PKCS#8 key: returns the .cer (PEM) and .key paths.</summary>
    public static (string Certificate, string Key) MakeWithOpenssl(string folder, string name, string extensions = DocumentEncryption)
    {
        var config = Path.Combine(folder, name + ".cnf");
        File.WriteAllText(config, "[req]\ndistinguished_name=dn\n[dn]\n[ext]\n" + extensions + "basicConstraints=CA:FALSE\n");
        var cer = Path.Combine(folder, name + ".cer");
        var key = Path.Combine(folder, name + ".key");
        Run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=" + name,
            "-keyout", key, "-out", cer, "-config", config, "-extensions", "ext");
        return (cer, key);
    }

    public static X509Certificate2 Load(string cer) => new(cer);

    public static X509Certificate2 LoadWithKey((string Certificate, string Key) pair) => X509Certificate2.CreateFromPemFile(pair.Certificate, pair.Key);

    /// <summary>A certificate fit for document encryption except for its dates.</summary>
    public static X509Certificate2 MakeWithDates(string name, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=" + name, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyEncipherment, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid("1.3.6.1.4.1.311.80.1") }, critical: false));
        return request.CreateSelfSigned(notBefore, notAfter);
    }

    public static string Run(string program, params string[] arguments)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({process.ExitCode}): {stderr}");
        return stdout.Result;
    }

    /// <summary>Runs openssl and returns its standard output as bytes (for a decrypted file compared byte for byte).</summary>
    public static byte[] OpensslDecrypt(string cms, string key, string outFile)
    {
        Run("openssl", "cms", "-decrypt", "-inform", "PEM", "-in", cms, "-inkey", key, "-out", outFile);
        return File.ReadAllBytes(outFile);
    }
}
