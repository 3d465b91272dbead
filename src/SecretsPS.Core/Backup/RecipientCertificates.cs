using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SecretsPS.Core.Backup;

/// <summary>
/// The certificates a backup is encrypted to, as Protect-CmsMessage -To takes them: certificate objects, a path to a
/// .cer/.pem file, or the thumbprint or subject of a certificate in the CurrentUser or LocalMachine "My" store. Each must be
/// fit for document encryption now: an RSA key, inside its validity period, the Document Encryption enhanced key usage and
/// the Key Encipherment or Data Encipherment key usage (Protect-CmsMessage's own test).
/// </summary>
public static class RecipientCertificates
{
    /// <summary>The Document Encryption enhanced key usage Protect-CmsMessage requires.</summary>
    public const string DocumentEncryptionOid = "1.3.6.1.4.1.311.80.1";

    /// <summary>
    /// Each item: an X509Certificate2, a path to an existing certificate file (already a full path), or a thumbprint or
    /// subject text looked up in the stores. Returns the certificates, each checked with <see cref="CheckUsable"/>.
    /// </summary>
    public static IReadOnlyList<X509Certificate2> Resolve(IEnumerable<object> recipients, DateTimeOffset? now = null)
    {
        var time = now ?? DateTimeOffset.UtcNow;
        var found = new List<X509Certificate2>();
        foreach (var item in recipients)
        {
            switch (item)
            {
                case X509Certificate2 certificate:
                    CheckUsable(certificate, time);
                    found.Add(certificate);
                    break;
                case string text when File.Exists(text):
                    var loaded = LoadFile(text);
                    CheckUsable(loaded, time);
                    found.Add(loaded);
                    break;
                case string text:
                    found.AddRange(FromStores(text, time));
                    break;
                default:
                    throw NotFound(item?.ToString() ?? "");
            }
        }
        // Two spellings of one certificate make one recipient.
        return found.GroupBy(c => c.Thumbprint, StringComparer.OrdinalIgnoreCase).Select(g => g.First()).ToList();
    }

    /// <summary>Refuses a certificate a backup must not be encrypted to (the error says which rule and how to fix it).</summary>
    public static void CheckUsable(X509Certificate2 certificate, DateTimeOffset now)
    {
        using (var rsa = certificate.GetRSAPublicKey())
        {
            if (rsa is null)
                throw new SecretsPSException(ErrorIds.CertificateNotRsa, ErrorKind.InvalidArgument,
                    Localized.Format(Messages.CertificateNotRsa, certificate.Subject, certificate.Thumbprint), target: certificate.Thumbprint);
        }
        var notBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime(), TimeSpan.Zero);
        var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        if (now < notBefore || now > notAfter)
            throw new SecretsPSException(ErrorIds.CertificateExpired, ErrorKind.InvalidArgument,
                Localized.Format(Messages.CertificateExpired, certificate.Subject, certificate.Thumbprint,
                    notBefore.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
                    notAfter.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture)),
                target: certificate.Thumbprint);
        if (!IsForDocumentEncryption(certificate))
            throw new SecretsPSException(ErrorIds.CertificateNotForEncryption, ErrorKind.InvalidArgument,
                Localized.Format(Messages.CertificateNotForEncryption, certificate.Subject, certificate.Thumbprint, DocumentEncryptionOid),
                target: certificate.Thumbprint);
    }

    private static bool IsForDocumentEncryption(X509Certificate2 certificate)
    {
        var usage = certificate.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault();
        var enhanced = certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault();
        return usage is not null
               && (usage.KeyUsages & (X509KeyUsageFlags.KeyEncipherment | X509KeyUsageFlags.DataEncipherment)) != 0
               && enhanced is not null
               && enhanced.EnhancedKeyUsages.Cast<Oid>().Any(o => o.Value == DocumentEncryptionOid);
    }

    private static X509Certificate2 LoadFile(string path)
    {
        try
        {
            // DER or PEM (the first certificate of a PEM file); a private key in the file is not needed to encrypt.
            return new X509Certificate2(path);
        }
        catch (CryptographicException e)
        {
            throw new SecretsPSException(ErrorIds.CertificateNotFound, ErrorKind.InvalidArgument,
                Localized.Format(Messages.CertificateFileUnreadable, path, e.Message), e, path);
        }
    }

    /// <summary>By thumbprint (exact) or subject (contained, any case) in CurrentUser\My and LocalMachine\My; of several by subject, the usable ones.</summary>
    private static IEnumerable<X509Certificate2> FromStores(string text, DateTimeOffset now)
    {
        // A certificate-drive path (Cert:\CurrentUser\My\<thumbprint>) names its certificate by its last segment.
        var last = text.Split('\\', '/').Last();
        if (last.Length == 40 && last.All(Uri.IsHexDigit)) text = last;
        var matches = new List<X509Certificate2>();
        foreach (var location in new[] { StoreLocation.CurrentUser, StoreLocation.LocalMachine })
        {
            try
            {
                using var store = new X509Store(StoreName.My, location);
                store.Open(OpenFlags.ReadOnly | OpenFlags.OpenExistingOnly);
                matches.AddRange(store.Certificates.Cast<X509Certificate2>().Where(c =>
                    string.Equals(c.Thumbprint, text.Replace(" ", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase)
                    || c.Subject.Contains(text, StringComparison.OrdinalIgnoreCase)));
            }
            catch (CryptographicException)
            {
                // A store that does not exist here (LocalMachine on Linux) holds nothing.
            }
        }
        if (matches.Count == 0) throw NotFound(text);
        var usable = matches.Where(c => IsUsable(c, now)).ToList();
        if (usable.Count == 0) CheckUsable(matches[0], now); // throws the first one's reason
        return usable;
    }

    private static bool IsUsable(X509Certificate2 c, DateTimeOffset now)
    {
        try
        {
            CheckUsable(c, now);
            return true;
        }
        catch (SecretsPSException)
        {
            return false;
        }
    }

    /// <summary>
    /// The certificates that open a backup: X509Certificate2 objects, or paths to a PEM file holding the certificate and its
    /// private key (or a .pfx/.p12 without a password). A file without a key loads as the certificate alone, so that the
    /// restore can say the key is missing.
    /// </summary>
    public static IReadOnlyList<X509Certificate2> ResolveForDecryption(IEnumerable<object> certificates)
    {
        var found = new List<X509Certificate2>();
        foreach (var item in certificates)
        {
            switch (item)
            {
                case X509Certificate2 certificate:
                    found.Add(certificate);
                    break;
                case string path when File.Exists(path):
                    found.Add(LoadWithKey(path));
                    break;
                default:
                    throw NotFound(item?.ToString() ?? "");
            }
        }
        return found;
    }

    private static X509Certificate2 LoadWithKey(string path)
    {
        var extension = Path.GetExtension(path);
        if (extension.Equals(".pfx", StringComparison.OrdinalIgnoreCase) || extension.Equals(".p12", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                return new X509Certificate2(path, (string?)null);
            }
            catch (CryptographicException e)
            {
                throw new SecretsPSException(ErrorIds.CertificateNotFound, ErrorKind.InvalidArgument,
                    Localized.Format(Messages.CertificateFileUnreadable, path, e.Message), e, path);
            }
        }
        try
        {
            return X509Certificate2.CreateFromPemFile(path);
        }
        catch (CryptographicException)
        {
            return LoadFile(path); // no key in the file: the certificate alone, refused later for its missing key
        }
    }

    private static SecretsPSException NotFound(string what) =>
        new(ErrorIds.CertificateNotFound, ErrorKind.ObjectNotFound, Localized.Format(Messages.CertificateNotFound, what), target: what);
}
