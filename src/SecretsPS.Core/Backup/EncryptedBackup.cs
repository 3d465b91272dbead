using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using System.Security.Cryptography.Xml;

namespace SecretsPS.Core.Backup;

/// <summary>
/// A backup encrypted to certificates: CMS EnvelopedData (RFC 5652) with AES-256-CBC content encryption and RSAES-OAEP
/// (SHA-256) key transport to each recipient, PEM-armoured as Protect-CmsMessage writes it. OAEP rather than PKCS#1 v1.5:
/// both open with Unprotect-CmsMessage and <c>openssl cms -decrypt</c>, and OAEP is not open to padding-oracle attacks.
/// Everything happens in memory; the plaintext is never written anywhere.
/// </summary>
public static class EncryptedBackup
{
    private const string Aes256CbcOid = "2.16.840.1.101.3.4.1.42";

    /// <summary>The armoured CMS message of <paramref name="content"/>, openable by any one of <paramref name="recipients"/>.</summary>
    public static byte[] Encrypt(byte[] content, IReadOnlyList<X509Certificate2> recipients)
    {
        if (recipients.Count == 0) throw new ArgumentException("At least one recipient is needed.", nameof(recipients));
        var envelope = new EnvelopedCms(new ContentInfo(content), new AlgorithmIdentifier(new Oid(Aes256CbcOid)));
        var list = new CmsRecipientCollection();
        foreach (var c in recipients) list.Add(new CmsRecipient(SubjectIdentifierType.IssuerAndSerialNumber, c, RSAEncryptionPadding.OaepSHA256));
        envelope.Encrypt(list);
        return CmsArmor.Wrap(envelope.Encode());
    }

    /// <summary>
    /// The backup's content. With <paramref name="certificates"/> (each with its private key), the one the backup is
    /// encrypted to opens it; without, the certificate stores are searched. Every failure is a SecretsPSException naming
    /// the file and what to do; none quotes any of the content.
    /// </summary>
    public static byte[] Decrypt(byte[] file, string path, IReadOnlyList<X509Certificate2>? certificates)
    {
        var envelope = Decode(file, path);
        var recipients = Describe(envelope.RecipientInfos);
        if (certificates is null || certificates.Count == 0)
        {
            try
            {
                envelope.Decrypt();
            }
            catch (CryptographicException e)
            {
                throw new SecretsPSException(ErrorIds.BackupCertificateNotFound, ErrorKind.ObjectNotFound,
                    Localized.Format(Messages.BackupCertificateNotFound, path, recipients), e, path);
            }
            return envelope.ContentInfo.Content;
        }

        foreach (var c in certificates.Where(c => !c.HasPrivateKey))
            throw new SecretsPSException(ErrorIds.CertificateNoPrivateKey, ErrorKind.InvalidArgument,
                Localized.Format(Messages.CertificateNoPrivateKey, c.Subject, c.Thumbprint), target: c.Thumbprint);
        foreach (RecipientInfo recipient in envelope.RecipientInfos)
        {
            var certificate = certificates.FirstOrDefault(c => Matches(recipient.RecipientIdentifier, c));
            if (certificate is null) continue;
            try
            {
                envelope.Decrypt(recipient, new X509Certificate2Collection(certificate));
                return envelope.ContentInfo.Content;
            }
            catch (CryptographicException e)
            {
                throw new SecretsPSException(ErrorIds.BackupDecryptFailed, ErrorKind.InvalidData,
                    Localized.Format(Messages.BackupDecryptFailed, path, certificate.Subject, certificate.Thumbprint), e, path);
            }
        }
        throw new SecretsPSException(ErrorIds.BackupRecipientMismatch, ErrorKind.SecurityError,
            Localized.Format(Messages.BackupRecipientMismatch, path, recipients,
                string.Join(", ", certificates.Select(c => c.Subject + " " + c.Thumbprint))), target: path);
    }

    /// <summary>Who can open the backup, as the file says (issuer and serial number, or subject key identifier): without decrypting anything.</summary>
    public static IReadOnlyList<string> ReadRecipients(byte[] file, string path) =>
        Decode(file, path).RecipientInfos.Cast<RecipientInfo>().Select(r => Describe(r.RecipientIdentifier)).ToList();

    private static EnvelopedCms Decode(byte[] file, string path)
    {
        try
        {
            var envelope = new EnvelopedCms();
            envelope.Decode(CmsArmor.Unwrap(file));
            return envelope;
        }
        catch (Exception e) when (e is FormatException or CryptographicException)
        {
            throw new SecretsPSException(ErrorIds.BackupEncryptedDamaged, ErrorKind.InvalidData,
                Localized.Format(Messages.BackupEncryptedDamaged, path, e.Message), e, path);
        }
    }

    private static bool Matches(SubjectIdentifier id, X509Certificate2 c) => id.Type switch
    {
        SubjectIdentifierType.IssuerAndSerialNumber when id.Value is X509IssuerSerial s =>
            string.Equals(s.SerialNumber, c.SerialNumber, StringComparison.OrdinalIgnoreCase) && s.IssuerName == c.IssuerName.Name,
        SubjectIdentifierType.SubjectKeyIdentifier when id.Value is string ski =>
            c.Extensions.OfType<X509SubjectKeyIdentifierExtension>().Any(e => string.Equals(e.SubjectKeyIdentifier, ski, StringComparison.OrdinalIgnoreCase)),
        _ => false,
    };

    private static string Describe(RecipientInfoCollection recipients) =>
        string.Join(", ", recipients.Cast<RecipientInfo>().Select(r => Describe(r.RecipientIdentifier)));

    private static string Describe(SubjectIdentifier id) => id.Value switch
    {
        X509IssuerSerial s => string.Format(CultureInfo.InvariantCulture, "{0} #{1}", s.IssuerName, s.SerialNumber),
        string ski => "SKI " + ski,
        _ => id.Type.ToString(),
    };
}
