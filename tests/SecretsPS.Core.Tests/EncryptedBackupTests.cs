using System.Security.Cryptography.X509Certificates;
using System.Text;
using SecretsPS.Core.Backup;
using SecretsPS.Core.Config;

namespace SecretsPS.Core.Tests;

/// <summary>
/// Issue #18: backups encrypted to certificates (CMS, as Protect-CmsMessage writes it), in a destination folder, read back
/// for a restore; every failure a clear error with the live file unchanged and no plaintext written anywhere.
/// </summary>
public sealed class EncryptedBackupTests : IDisposable, IClassFixture<EncryptedBackupTests.Certificates>
{
    /// <summary>RSA key generation is the slow part: the certificates are made once for the class.</summary>
    public sealed class Certificates : IDisposable
    {
        private readonly TempFolder _folder = new();

        public Certificates()
        {
            Folder = _folder.Path;
            Recovery = TestCertificates.MakeWithOpenssl(Folder, "recovery");
            Offsite = TestCertificates.MakeWithOpenssl(Folder, "offsite");
            Stranger = TestCertificates.MakeWithOpenssl(Folder, "stranger");
        }

        public string Folder { get; }
        public (string Certificate, string Key) Recovery { get; }
        public (string Certificate, string Key) Offsite { get; }
        public (string Certificate, string Key) Stranger { get; }

        public void Dispose() => _folder.Dispose();
    }

    private readonly TempFolder _folder = new();
    private readonly Certificates _made;
    private readonly string _certs;
    private readonly string _share;
    private readonly (string Certificate, string Key) _recovery;

    public EncryptedBackupTests(Certificates made)
    {
        _made = made;
        _certs = Directory.CreateDirectory(_folder.File("certs")).FullName;
        _share = Directory.CreateDirectory(_folder.File("share")).FullName;
        _recovery = made.Recovery;
        KeyFileOperations.Create(KeyFile, "v1", 32, 16, null, overwrite: false);
        KeyFileOperations.Rotate(KeyFile, new RotationOptions());
    }

    public void Dispose() => _folder.Dispose();

    private string KeyFile => _folder.File("keys", ".env.crypto");

    private KeyFileBackup EncryptedBackup(params X509Certificate2[] to) =>
        KeyFileBackups.Create(KeyFile, _share, to.Length == 0 ? new[] { TestCertificates.Load(_recovery.Certificate) } : to);

    [Fact]
    public void An_encrypted_backup_opens_with_openssl_cms_decrypt_and_is_byte_identical_to_the_key_file()
    {
        var backup = EncryptedBackup();
        Assert.True(backup.Encrypted);
        Assert.EndsWith(".cms", backup.Name);
        Assert.StartsWith(".env.crypto.backup_", backup.Name);
        Assert.Equal(_share, Path.GetDirectoryName(backup.FullName));
        Assert.Equal("v1, v2", backup.Versions);
        Assert.Equal(TestCertificates.Load(_recovery.Certificate).Thumbprint, backup.Recipients);
        var opened = TestCertificates.OpensslDecrypt(backup.FullName, _recovery.Key, _folder.File("opened"));
        Assert.Equal(File.ReadAllBytes(KeyFile), opened);
    }

    [Fact]
    public void The_armour_is_Protect_CmsMessages_BEGIN_CMS_line_base64_in_76_character_lines_and_END_CMS_line()
    {
        var text = Encoding.ASCII.GetString(File.ReadAllBytes(EncryptedBackup().FullName));
        var nl = Environment.NewLine;
        Assert.StartsWith("-----BEGIN CMS-----" + nl, text);
        Assert.EndsWith(nl + "-----END CMS-----", text);
        var body = text["-----BEGIN CMS-----".Length..^"-----END CMS-----".Length].Trim('\r', '\n');
        var lines = body.Split("\r\n");
        Assert.All(lines[..^1], l => Assert.Equal(76, l.Length));
        Assert.InRange(lines[^1].Length, 1, 76);
    }

    [Fact]
    public void CmsArmor_round_trips_every_length_and_never_writes_a_line_longer_than_76()
    {
        var random = new Random(18);
        for (int n = 0; n < 600; n += 7)
        {
            var bytes = new byte[n];
            random.NextBytes(bytes);
            var wrapped = CmsArmor.Wrap(bytes);
            Assert.True(CmsArmor.IsArmored(wrapped));
            Assert.Equal(bytes, CmsArmor.Unwrap(wrapped));
            Assert.All(Encoding.ASCII.GetString(wrapped).Split('\n'), l => Assert.True(l.TrimEnd('\r').Length <= 76));
        }
    }

    [Fact]
    public void A_backup_encrypted_to_two_recipients_opens_with_either_private_key()
    {
        var second = _made.Offsite;
        var backup = EncryptedBackup(TestCertificates.Load(_recovery.Certificate), TestCertificates.Load(second.Certificate));
        var original = File.ReadAllBytes(KeyFile);
        Assert.Equal(original, TestCertificates.OpensslDecrypt(backup.FullName, _recovery.Key, _folder.File("a")));
        Assert.Equal(original, TestCertificates.OpensslDecrypt(backup.FullName, second.Key, _folder.File("b")));
        Assert.Equal(original, KeyFileBackups.ReadForRestore(backup.FullName, new[] { TestCertificates.LoadWithKey(second) }, out _));
        Assert.Equal(original, KeyFileBackups.ReadForRestore(backup.FullName, new[] { TestCertificates.LoadWithKey(_recovery) }, out var encrypted));
        Assert.True(encrypted);
        Assert.Equal(2, KeyFileBackups.List(KeyFile, _share).Single().Recipients.Split(" #").Length - 1);
    }

    [Fact]
    public void Restoring_an_encrypted_backup_round_trips_the_key_file_and_keeps_its_mode()
    {
        var backup = EncryptedBackup();
        var original = File.ReadAllBytes(KeyFile);
        KeyFileOperations.Rotate(KeyFile, new RotationOptions());
        var content = KeyFileBackups.ReadForRestore(backup.FullName, new[] { TestCertificates.LoadWithKey(_recovery) }, out _);
        Assert.Equal(new[] { "v3" }, KeyFileBackups.VersionsLost(KeyFile, content));
        var result = KeyFileBackups.Restore(backup.FullName, content, KeyFile);
        Assert.Equal(original, File.ReadAllBytes(KeyFile));
        Assert.NotNull(result.BackupOfReplaced);
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(KeyFile));
    }

    [Fact]
    public void Openssl_made_CMS_of_the_key_file_restores_too()
    {
        var cms = _folder.File("share", ".env.crypto.backup_20250101_000000.cms");
        TestCertificates.Run("openssl", "cms", "-encrypt", "-binary", "-aes256", "-in", KeyFile, "-outform", "PEM", "-out", cms, _recovery.Certificate);
        Assert.Equal(File.ReadAllBytes(KeyFile), KeyFileBackups.ReadForRestore(cms, new[] { TestCertificates.LoadWithKey(_recovery) }, out _));
    }

    [Fact]
    public void Every_truncation_of_an_encrypted_backup_is_a_clear_error_and_the_live_file_is_unchanged()
    {
        var bytes = File.ReadAllBytes(EncryptedBackup().FullName);
        var before = File.ReadAllBytes(KeyFile);
        var certificate = new[] { TestCertificates.LoadWithKey(_recovery) };
        for (int length = 0; length < bytes.Length; length += 13)
        {
            var cut = _folder.File("share", $".env.crypto.backup_20250101_000000_{length + 2}.cms");
            File.WriteAllBytes(cut, bytes[..length]);
            var e = Assert.ThrowsAny<SecretsPSException>(() => KeyFileBackups.ReadForRestore(cut, certificate, out _));
            Assert.Contains(e.ErrorId, new[] { ErrorIds.BackupEncryptedDamaged, ErrorIds.BackupDecryptFailed, ErrorIds.BackupInvalid, ErrorIds.KeyFileNotFound });
            Assert.Equal(before, File.ReadAllBytes(KeyFile));
        }
    }

    [Fact]
    public void Every_single_byte_change_in_an_encrypted_backup_is_an_error_or_restores_exactly_the_same_keys()
    {
        // CMS EnvelopedData (what Protect-CmsMessage and openssl write) carries no MAC: AES-CBC is malleable, so a change
        // can survive decryption. The key file's own checks (strict UTF-8, salt hashes, key lengths) are what refuse it;
        // the one change they cannot see is in the first block's comment (through the IV). The invariant: a tampered
        // backup never restores keys, salts or an active version other than the original's.
        var bytes = File.ReadAllBytes(EncryptedBackup().FullName);
        var original = File.ReadAllBytes(KeyFile);
        var originalSettings = Settings(original);
        var certificate = new[] { TestCertificates.LoadWithKey(_recovery) };
        var tampered = _folder.File("share", "tampered.cms");
        var start = "-----BEGIN CMS-----".Length + Environment.NewLine.Length;
        for (int i = start; i < bytes.Length - 20; i += 5)
        {
            var copy = (byte[])bytes.Clone();
            if (copy[i] is (byte)'\r' or (byte)'\n') continue;
            copy[i] = copy[i] == (byte)'A' ? (byte)'B' : (byte)'A';
            File.WriteAllBytes(tampered, copy);
            try
            {
                var content = KeyFileBackups.ReadForRestore(tampered, certificate, out _);
                Assert.Equal(originalSettings, Settings(content));
            }
            catch (SecretsPSException e)
            {
                Assert.Contains(e.ErrorId, new[] { ErrorIds.BackupEncryptedDamaged, ErrorIds.BackupDecryptFailed, ErrorIds.BackupInvalid, ErrorIds.BackupRecipientMismatch });
            }
        }
        Assert.Equal(original, File.ReadAllBytes(KeyFile));
    }

    private static string Settings(byte[] content)
    {
        var settings = KeySettings.From(KeyFileStore.ParseBytes(content, "backup"), null);
        return settings.ActiveVersion + "|" + string.Join("|", settings.Versions.Select(v => $"{v.Name}:{v.Key}:{v.Salt}:{v.SaltHash}:{v.Kdf}"));
    }

    [Fact]
    public void A_certificate_the_backup_is_not_encrypted_to_is_refused_naming_the_backups_recipients()
    {
        var backup = EncryptedBackup();
        var other = _made.Stranger;
        var e = Assert.ThrowsAny<SecretsPSException>(() => KeyFileBackups.ReadForRestore(backup.FullName, new[] { TestCertificates.LoadWithKey(other) }, out _));
        Assert.Equal(ErrorIds.BackupRecipientMismatch, e.ErrorId);
        Assert.Contains("CN=recovery", e.Message);
        Assert.Contains("CN=stranger", e.Message);
    }

    [Fact]
    public void A_certificate_without_its_private_key_is_refused_before_anything_is_decrypted()
    {
        var backup = EncryptedBackup();
        var e = Assert.ThrowsAny<SecretsPSException>(() => KeyFileBackups.ReadForRestore(backup.FullName, new[] { TestCertificates.Load(_recovery.Certificate) }, out _));
        Assert.Equal(ErrorIds.CertificateNoPrivateKey, e.ErrorId);
    }

    [Fact]
    public void An_expired_or_not_yet_valid_certificate_is_refused_and_nothing_is_written()
    {
        var now = DateTimeOffset.UtcNow;
        foreach (var certificate in new[]
                 {
                     TestCertificates.MakeWithDates("expired", now.AddDays(-30), now.AddDays(-1)),
                     TestCertificates.MakeWithDates("future", now.AddDays(1), now.AddDays(30)),
                 })
        {
            var e = Assert.ThrowsAny<SecretsPSException>(() => RecipientCertificates.Resolve(new object[] { certificate }));
            Assert.Equal(ErrorIds.CertificateExpired, e.ErrorId);
            Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        }
        Assert.Empty(Directory.EnumerateFileSystemEntries(_share));
    }

    [Theory]
    [InlineData("no key usage at all", "extendedKeyUsage=1.3.6.1.4.1.311.80.1\n")]
    [InlineData("signing only", "keyUsage=critical,digitalSignature\nextendedKeyUsage=1.3.6.1.4.1.311.80.1\n")]
    [InlineData("no Document Encryption usage", "keyUsage=critical,keyEncipherment\n")]
    [InlineData("TLS server usage instead", "keyUsage=critical,keyEncipherment\nextendedKeyUsage=serverAuth\n")]
    public void A_certificate_without_key_encipherment_and_document_encryption_is_refused(string why, string extensions)
    {
        var pair = TestCertificates.MakeWithOpenssl(_certs, "unfit" + Math.Abs(why.GetHashCode()), extensions);
        var e = Assert.ThrowsAny<SecretsPSException>(() => RecipientCertificates.Resolve(new object[] { pair.Certificate }));
        Assert.Equal(ErrorIds.CertificateNotForEncryption, e.ErrorId);
        Assert.Contains("1.3.6.1.4.1.311.80.1", e.Message);
    }

    [Fact]
    public void A_certificate_named_by_a_missing_file_or_unknown_subject_is_not_found()
    {
        var e = Assert.ThrowsAny<SecretsPSException>(() => RecipientCertificates.Resolve(new object[] { "CN=nobody-has-this-" + Guid.NewGuid() }));
        Assert.Equal(ErrorIds.CertificateNotFound, e.ErrorId);
    }

    [Fact]
    public void A_destination_folder_that_does_not_exist_is_refused_and_never_created()
    {
        var missing = _folder.File("not-mounted", "keys");
        foreach (var destination in new[] { missing, missing + Path.DirectorySeparatorChar, Path.Combine(missing, "backup.cms") })
        {
            var e = Assert.ThrowsAny<SecretsPSException>(() => KeyFileBackups.Create(KeyFile, destination, Array.Empty<X509Certificate2>()));
            Assert.Equal(ErrorIds.BackupDestinationNotFound, e.ErrorId);
        }
        Assert.False(Directory.Exists(_folder.File("not-mounted")));
    }

    [Fact]
    public void A_destination_naming_a_file_writes_exactly_that_file_and_never_overwrites_one()
    {
        var target = Path.Combine(_share, "billing-keys.cms");
        var backup = KeyFileBackups.Create(KeyFile, target, new[] { TestCertificates.Load(_recovery.Certificate) });
        Assert.Equal(target, backup.FullName);
        var e = Assert.ThrowsAny<SecretsPSException>(() => KeyFileBackups.Create(KeyFile, target, new[] { TestCertificates.Load(_recovery.Certificate) }));
        Assert.Equal(ErrorIds.BackupDestinationExists, e.ErrorId);
        Assert.Equal(File.ReadAllBytes(KeyFile), TestCertificates.OpensslDecrypt(target, _recovery.Key, _folder.File("o")));
    }

    [Fact]
    public void An_encrypted_backup_leaves_no_file_with_key_material_anywhere_but_the_key_file()
    {
        var keyText = File.ReadAllText(KeyFile);
        var secrets = keyText.Split('\n').Where(l => l.StartsWith("ENCRYPTION_KEYS__") || l.StartsWith("ENCRYPTION_SALT__"))
            .Select(l => l[(l.IndexOf('"') + 1)..l.LastIndexOf('"')]).ToList();
        Assert.NotEmpty(secrets);
        EncryptedBackup();
        EncryptedBackup();
        // The key file's folder and the share (the only places the command writes): only the key file and the plain
        // backups the rotation made beside it may hold the keys. (The system temp folder is not read: it can hold FIFOs.)
        var everywhere = Directory.EnumerateFiles(_folder.Path, "*", SearchOption.AllDirectories)
            .Where(f => f != KeyFile && !(Path.GetDirectoryName(f) == Path.GetDirectoryName(KeyFile) && Path.GetFileName(f).StartsWith(".env.crypto.backup_", StringComparison.Ordinal) && !f.EndsWith(".cms")));
        foreach (var file in everywhere)
        {
            string text;
            try { text = File.ReadAllText(file); } catch (IOException) { continue; } catch (UnauthorizedAccessException) { continue; }
            foreach (var s in secrets) Assert.False(text.Contains(s, StringComparison.Ordinal), $"key material in {file}");
        }
    }

    [Fact]
    public void Listing_gives_plain_and_encrypted_backups_of_this_key_file_only_newest_first()
    {
        var noon = new DateTimeOffset(2025, 1, 14, 12, 0, 0, TimeSpan.Zero);
        var content = File.ReadAllBytes(KeyFile);
        var folder = Path.GetDirectoryName(KeyFile)!;
        var existing = KeyFileBackups.List(KeyFile).Select(x => x.FullName).ToList(); // the rotation's, made today
        var a = KeyFileStore.CreateBackupIn(KeyFile, folder, content, "", noon);
        var b = KeyFileStore.CreateBackupIn(KeyFile, folder, CmsArmor.Wrap(new byte[] { 1, 2, 3 }), ".cms", noon.AddDays(1));
        var c = KeyFileStore.CreateBackupIn(KeyFile, folder, content, "", noon.AddDays(1));
        foreach (var other in new[] { ".env.crypto.production.backup_20250120_000000", ".env.crypto.backup_20250120_000000.bak", ".env.crypto.lock", "notes.txt", ".env.crypto.backup_20251340_000000" })
            File.WriteAllText(Path.Combine(folder, other), "x");
        var listed = KeyFileBackups.List(KeyFile).Select(x => x.FullName).ToList();
        Assert.Equal(existing.Concat(new[] { c, b, a }), listed);
        Assert.Equal(new[] { false, true, false }, KeyFileBackups.List(KeyFile).Skip(existing.Count).Select(x => x.Encrypted));
        Assert.Equal(new[] { ".env.crypto.production.backup_20250120_000000" }, KeyFileBackups.List(_folder.File("keys", ".env.crypto.production")).Select(x => x.Name));
    }

    [Fact]
    public void Pruning_in_a_destination_keeps_the_newest_N_of_both_kinds_and_touches_no_other_file()
    {
        var noon = new DateTimeOffset(2025, 1, 14, 12, 0, 0, TimeSpan.Zero);
        var content = File.ReadAllBytes(KeyFile);
        var made = Enumerable.Range(0, 6).Select(i => KeyFileStore.CreateBackupIn(KeyFile, _share, content, i % 2 == 0 ? ".cms" : "", noon.AddDays(i))).ToList();
        var others = new[] { ".env.crypto.production.backup_20200101_000000.cms", "readme.txt", ".env.crypto.backup_x.cms" }
            .Select(n => _folder.Write(Path.Combine("share", n), "keep me")).ToList();
        var removed = KeyFileBackups.Prune(KeyFile, _share, keep: 2);
        Assert.Equal(made.Take(4).Reverse(), removed);
        Assert.Equal(made.Skip(4).Reverse(), KeyFileBackups.List(KeyFile, _share).Select(b => b.FullName));
        Assert.All(others, o => Assert.True(File.Exists(o)));
    }

    [Theory]
    [InlineData(".env.crypto.production.backup_20250702_080013", ".env.crypto", true)]
    [InlineData(".env.crypto.production.backup_20250702_080013.cms", ".env.crypto", true)]
    [InlineData(".env.crypto.backup_20250702_080013", ".env.crypto.production", true)]
    [InlineData(".env.crypto.backup_20250702_080013_2.cms", ".env.crypto", false)]
    [InlineData(".env.crypto.production.backup_20250702_080013", ".env.crypto.production", false)]
    [InlineData("keys-from-the-vault.txt", ".env.crypto", false)]
    public void A_backup_named_for_another_key_file_is_refused(string backupName, string keyFileName, bool refused)
    {
        var check = () => KeyFileBackups.CheckBelongsTo(_folder.File(backupName), _folder.File(keyFileName));
        if (!refused)
        {
            check();
            return;
        }
        var e = Assert.ThrowsAny<SecretsPSException>(check);
        Assert.Equal(ErrorIds.BackupForOtherKeyFile, e.ErrorId);
        Assert.Contains("-Force", e.Message);
    }

    [Fact]
    public void BackupName_parses_what_CreateBackupIn_names_for_any_time_and_sequence()
    {
        var random = new Random(19);
        for (int i = 0; i < 200; i++)
        {
            var time = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero).AddSeconds(random.NextInt64(0, 60L * 365 * 24 * 3600));
            var n = random.Next(1, 5000);
            var encrypted = random.Next(2) == 0;
            var name = ".env.crypto.staging.backup_" + time.ToString("yyyyMMdd_HHmmss") + (n == 1 ? "" : "_" + n) + (encrypted ? ".cms" : "");
            var parsed = BackupName.Parse(name)!;
            Assert.Equal(".env.crypto.staging", parsed.KeyFileName);
            Assert.Equal(time, parsed.Created);
            Assert.Equal(TimeSpan.Zero, parsed.Created.Offset);
            Assert.Equal(n, parsed.Sequence);
            Assert.Equal(encrypted, parsed.Encrypted);
        }
    }
    [Fact]
    public void A_certificate_in_the_users_store_is_found_by_thumbprint_or_subject_and_opens_a_backup_without_Certificate()
    {
        // As Protect-CmsMessage -To 'CN=…' and Unprotect-CmsMessage do on Windows; .NET keeps a CurrentUser\My store on
        // every platform. The certificate is removed again whatever happens.
        var pair = TestCertificates.MakeWithOpenssl(_certs, "store-" + Guid.NewGuid().ToString("N")[..8]);
        using var withKey = TestCertificates.LoadWithKey(pair);
        // A store keeps only a persistable key: round-trip through PKCS#12.
        using var persisted = new X509Certificate2(withKey.Export(X509ContentType.Pkcs12), (string?)null, X509KeyStorageFlags.PersistKeySet | X509KeyStorageFlags.Exportable);
        using var store = new X509Store(StoreName.My, StoreLocation.CurrentUser);
        store.Open(OpenFlags.ReadWrite);
        store.Add(persisted);
        try
        {
            Assert.Equal(persisted.Thumbprint, RecipientCertificates.Resolve(new object[] { persisted.Thumbprint.ToLowerInvariant() }).Single().Thumbprint);
            Assert.Equal(persisted.Thumbprint, RecipientCertificates.Resolve(new object[] { persisted.Subject }).Single().Thumbprint);
            Assert.Equal(persisted.Thumbprint, RecipientCertificates.Resolve(new object[] { @"Cert:\CurrentUser\My\" + persisted.Thumbprint }).Single().Thumbprint);
            var backup = KeyFileBackups.Create(KeyFile, _share, RecipientCertificates.Resolve(new object[] { persisted.Subject }));
            Assert.Equal(File.ReadAllBytes(KeyFile), KeyFileBackups.ReadForRestore(backup.FullName, null, out _));
        }
        finally
        {
            store.Remove(persisted);
        }
    }
}
