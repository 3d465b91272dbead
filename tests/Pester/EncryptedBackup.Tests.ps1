# Issue #18: backups encrypted to recovery certificates, in CMS as PowerShell's Protect-CmsMessage writes it, readable
# with openssl, restorable with Restore-EncryptionConfig -Certificate; issue #19: -Latest, the other-environment refusal,
# the versions a restore loses, -BackupPath completion.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'CertificateFixtures.psm1') -Force
    $script:savedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'
    $script:certs = New-TestFolder
    $script:recovery = New-TestCertificate -Folder $certs -Name recovery
    $script:offsite = New-TestCertificate -Folder $certs -Name offsite
    $script:stranger = New-TestCertificate -Folder $certs -Name stranger
}

AfterAll {
    if ($script:savedEnvironment) { Restore-KeyEnvironment $script:savedEnvironment }
}

Describe 'Backup-EncryptionConfig -To' {
    Context 'encrypted to one certificate, sent to a share' {
        BeforeAll {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $share = New-TestFolder
            $log = Join-Path (New-TestFolder) 'backup.log'
            $backup = Backup-EncryptionConfig -Path $path -To $recovery.Certificate -Destination $share -Keep 30 -LogFile $log
            $thumbprint = ([System.Security.Cryptography.X509Certificates.X509Certificate2]::new($recovery.Certificate)).Thumbprint
        }

        It 'writes KEYFILE.backup_yyyyMMdd_HHmmss.cms (UTC) in the share and nothing beside the key file' {
            $backup.Encrypted | Should -BeTrue
            $backup.Name | Should -Match '^\.env\.crypto\.backup_\d{8}_\d{6}\.cms$'
            Split-Path -Parent $backup.FullName | Should -Be $share
            @(Get-ChildItem -LiteralPath $folder -Force | Where-Object Name -NotLike '*.lock').Name | Should -Be @('.env.crypto')
            $backup.Recipients | Should -Be $thumbprint
            $backup.Versions | Should -Be 'v1'
        }

        It 'opens with openssl cms -decrypt -inform PEM, byte-identical to the key file' {
            Invoke-OpensslDecrypt -Path $backup.FullName -Key $recovery.Key | Should -Be ([IO.File]::ReadAllBytes($path))
        }

        It 'opens with Unprotect-CmsMessage' {
            $cert = Get-TestCertificateWithKey $recovery
            Unprotect-CmsMessage -Path $backup.FullName -To $cert | Should -BeExactly ([IO.File]::ReadAllText($path))
        }

        It 'is armoured exactly as Protect-CmsMessage armours the same content' {
            $ours = [IO.File]::ReadAllText($backup.FullName)
            $theirs = Protect-CmsMessage -To $recovery.Certificate -Content 'x'
            $shape = { param($t) ($t -replace '[A-Za-z0-9+/=]{1,76}', 'B') -replace '(B\r\n)+', 'L' }
            (& $shape $ours) | Should -BeExactly (& $shape $theirs)
            $ours | Should -Match '^-----BEGIN CMS-----'
            $ours | Should -Match '-----END CMS-----$'
        }

        It 'logs the backup file and the thumbprint, never the content' {
            $text = Get-Content -Raw -LiteralPath $log
            $text | Should -Match ([regex]::Escape($backup.FullName))
            $text | Should -Match $thumbprint
            Find-SecretInText -Text $text -Secrets @(Get-KeyMaterial -Path $path) | Should -BeNullOrEmpty
        }
    }

    It 'encrypts to two recipients; either private key opens it' {
        $path = New-TestKeyFile
        $b = Backup-EncryptionConfig -Path $path -To ([System.Security.Cryptography.X509Certificates.X509Certificate2]::new($recovery.Certificate)), $offsite.Pem
        $bytes = [IO.File]::ReadAllBytes($path)
        Invoke-OpensslDecrypt -Path $b.FullName -Key $recovery.Key | Should -Be $bytes
        Invoke-OpensslDecrypt -Path $b.FullName -Key $offsite.Key | Should -Be $bytes
        ($b.Recipients -split ', ').Count | Should -Be 2
    }

    It 'refuses <Why> with <ErrorId> and writes nothing' -ForEach @(
        @{ Why = 'an expired certificate'; ErrorId = 'CertificateExpired'; Make = { New-DatedTestCertificate -Name old -NotBefore ([DateTimeOffset]::UtcNow.AddDays(-30)) -NotAfter ([DateTimeOffset]::UtcNow.AddDays(-1)) } }
        @{ Why = 'a certificate without key usages'; ErrorId = 'CertificateNotForEncryption'; Make = { (New-TestCertificate -Folder $certs -Name nousage -Extensions "basicConstraints=CA:FALSE`n").Certificate } }
        @{ Why = 'a certificate for TLS, not document encryption'; ErrorId = 'CertificateNotForEncryption'; Make = { (New-TestCertificate -Folder $certs -Name tls -Extensions "keyUsage=critical,keyEncipherment`nextendedKeyUsage=serverAuth`n").Certificate } }
        @{ Why = 'a certificate that is nowhere'; ErrorId = 'CertificateNotFound'; Make = { 'CN=nobody-' + [guid]::NewGuid() } }
    ) {
        $folder = New-TestFolder
        $path = New-TestKeyFile -Folder $folder
        $share = New-TestFolder
        $before = (Get-FileHashString $folder), (Get-FileHashString $share)
        $to = & $Make
        $e = Get-ErrorRecord { Backup-EncryptionConfig -Path $path -To $to -Destination $share -ErrorAction Stop }
        Assert-SecretsPSError $e $ErrorId
        (Get-FileHashString $folder), (Get-FileHashString $share) | Should -Be $before
    }

    It 'writes nothing under -WhatIf, and still refuses an unfit certificate there' {
        $folder = New-TestFolder
        $path = New-TestKeyFile -Folder $folder
        $share = New-TestFolder
        $before = (Get-FileHashString $folder), (Get-FileHashString $share)
        Backup-EncryptionConfig -Path $path -To $recovery.Certificate -Destination $share -Keep 1 -WhatIf
        $unfit = (New-TestCertificate -Folder $certs -Name whatif -Extensions "basicConstraints=CA:FALSE`n").Certificate
        $e = Get-ErrorRecord { Backup-EncryptionConfig -Path $path -To $unfit -Destination $share -WhatIf -ErrorAction Stop }
        Assert-SecretsPSError $e 'CertificateNotForEncryption' 'InvalidArgument'
        (Get-FileHashString $folder), (Get-FileHashString $share) | Should -Be $before
    }

    It 'refuses a destination folder that does not exist, and never creates it' {
        $path = New-TestKeyFile
        $missing = Join-Path (New-TestFolder) 'mnt/backup'
        $e = Get-ErrorRecord { Backup-EncryptionConfig -Path $path -To $recovery.Certificate -Destination $missing -ErrorAction Stop }
        Assert-SecretsPSError $e 'BackupDestinationNotFound' 'ObjectNotFound'
        Test-Path -LiteralPath (Split-Path $missing) | Should -BeFalse
    }

    It 'warns when a backup leaves the key file''s folder unencrypted' {
        $path = New-TestKeyFile
        $null = Backup-EncryptionConfig -Path $path -Destination (New-TestFolder) -WarningVariable w -WarningAction SilentlyContinue
        ($w -join ' ') | Should -Match '-To'
    }

    It '-Keep prunes in the destination, counting encrypted and plain backups alike' {
        $path = New-TestKeyFile
        $share = New-TestFolder
        foreach ($s in '20240101_000000', '20240102_000000.cms', '20240103_000000') { Copy-Item -LiteralPath $path -Destination (Join-Path $share ".env.crypto.backup_$s") }
        Set-Content -LiteralPath (Join-Path $share 'notes.txt') -Value 'keep'
        $b = Backup-EncryptionConfig -Path $path -To $recovery.Certificate -Destination $share -Keep 2
        @(Get-ChildItem -LiteralPath $share -Force).Name | Sort-Object | Should -Be (@($b.Name, '.env.crypto.backup_20240103_000000', 'notes.txt') | Sort-Object)
    }
}

Describe 'Restore-EncryptionConfig of an encrypted backup' {
    BeforeAll {
        $folder = New-TestFolder
        $path = New-TestKeyFile -Folder $folder
        $share = New-TestFolder
        $backup = Backup-EncryptionConfig -Path $path -To $recovery.Certificate, $offsite.Certificate -Destination $share
        $original = Get-FileHashString $path
        $null = Invoke-KeyRotation -Path $path -Confirm:$false -WarningAction SilentlyContinue
    }

    It 'fails with <ErrorId> for <Why>, the live file and its folder unchanged' -ForEach @(
        @{ Why = 'a certificate it is not encrypted to'; ErrorId = 'BackupRecipientMismatch'; Damage = $null; Cert = { Get-TestCertificateWithKey $stranger } }
        @{ Why = 'a certificate without its private key'; ErrorId = 'CertificateNoPrivateKey'; Damage = $null; Cert = { [System.Security.Cryptography.X509Certificates.X509Certificate2]::new($recovery.Certificate) } }
        @{ Why = 'a truncated backup'; ErrorId = 'BackupEncryptedDamaged'; Damage = { param($b) $b[0..($b.Length / 2)] }; Cert = { Get-TestCertificateWithKey $recovery } }
        @{ Why = 'a backup cut inside its last block'; ErrorId = 'Backup'; Damage = { param($b) $t = [Text.Encoding]::ASCII.GetString($b); [Text.Encoding]::ASCII.GetBytes($t.Substring(0, $t.Length - 30) + "`n-----END CMS-----") }; Cert = { Get-TestCertificateWithKey $recovery } }
        @{ Why = 'a tampered backup'; ErrorId = 'Backup'; Damage = { param($b) $c = [byte[]]$b.Clone(); $i = [int]($c.Length * 0.8); while ($c[$i] -in 10, 13) { $i++ }; $c[$i] = if ($c[$i] -eq 65) { 66 } else { 65 }; $c }; Cert = { Get-TestCertificateWithKey $recovery } }
    ) {
        $target = $backup.FullName
        if ($Damage) {
            $target = Join-Path $share ".env.crypto.backup_20200101_000000_$(Get-Random -Maximum 100000).cms"
            [IO.File]::WriteAllBytes($target, [byte[]](& $Damage ([IO.File]::ReadAllBytes($backup.FullName))))
        }
        $before = Get-FileHashString $folder
        $e = Get-ErrorRecord { Restore-EncryptionConfig -Path $path -BackupPath $target -Certificate (& $Cert) -Force -ErrorAction Stop }
        # A damaged ciphertext fails at decoding, at the padding, or (CBC has no MAC) in the key file's own checks.
        if ($ErrorId -eq 'Backup') { $e.FullyQualifiedErrorId | Should -Match '^Backup(EncryptedDamaged|DecryptFailed|Invalid),' }
        else { Assert-SecretsPSError $e $ErrorId }
        Get-FileHashString $folder | Should -Be $before
    }

    It 'without -Certificate, and no certificate with the key in the stores, fails with BackupCertificateNotFound naming the recipients' {
        $before = Get-FileHashString $folder
        $e = Get-ErrorRecord { Restore-EncryptionConfig -Path $path -BackupPath $backup.FullName -Force -ErrorAction Stop }
        Assert-SecretsPSError $e 'BackupCertificateNotFound' 'ObjectNotFound'
        $e.Exception.Message | Should -Match 'CN=recovery'
        $e.Exception.Message | Should -Match '-Certificate'
        Get-FileHashString $folder | Should -Be $before
    }

    It 'rehearses under -WhatIf: decrypts and validates, writes nothing' {
        $before = Get-FileHashString $folder
        Restore-EncryptionConfig -Path $path -BackupPath $backup.FullName -Certificate $recovery.Pem -WhatIf
        Get-FileHashString $folder | Should -Be $before
    }

    It 'restores with either recipient''s certificate, byte for byte, and -PassThru says what it put back' {
        $r = Restore-EncryptionConfig -Path $path -BackupPath $backup.FullName -Certificate $offsite.Pem -Force -PassThru
        Get-FileHashString $path | Should -Be $original
        $r.Encrypted | Should -BeTrue
        $r.Versions | Should -Be 'v1'
        $r.KeyFile | Should -Be $path
        $null = Invoke-KeyRotation -Path $path -Confirm:$false -WarningAction SilentlyContinue
        Restore-EncryptionConfig -Path $path -BackupPath $backup.FullName -Certificate (Get-TestCertificateWithKey $recovery) -Force
        Get-FileHashString $path | Should -Be $original
    }

    It 'restores what Protect-CmsMessage made of a key file' {
        $p = New-TestKeyFile
        $cms = Join-Path (New-TestFolder) 'keys.cms'
        Protect-CmsMessage -To $recovery.Certificate -Content ([IO.File]::ReadAllText($p)) -OutFile $cms
        $before = Get-FileHashString $p
        $null = Invoke-KeyRotation -Path $p -Confirm:$false -WarningAction SilentlyContinue
        Restore-EncryptionConfig -Path $p -BackupPath $cms -Certificate $recovery.Pem -Force
        Get-FileHashString $p | Should -Be $before
    }
}

Describe 'Restore-EncryptionConfig: environments, -Latest, the versions lost, completion' {
    It 'refuses another environment''s backup (BackupForOtherKeyFile), changing nothing; -Force restores it' {
        $folder = New-TestFolder
        $path = New-TestKeyFile -Folder $folder
        $production = New-TestKeyFile -Folder $folder -Name '.env.crypto.production'
        $b = Backup-EncryptionConfig -Path $production
        $before = Get-FileHashString $folder
        $e = Get-ErrorRecord { Restore-EncryptionConfig -Path $path -BackupPath $b.FullName -Confirm:$false -ErrorAction Stop }
        Assert-SecretsPSError $e 'BackupForOtherKeyFile' 'InvalidOperation'
        $e.Exception.Message | Should -Match '-Force'
        Get-FileHashString $folder | Should -Be $before
        Restore-EncryptionConfig -Path $path -BackupPath $b.FullName -Force
        Get-FileHashString $path | Should -Be (Get-FileHashString $production)
    }

    It 'says in the confirmation which versions would be lost' {
        $path = New-TestKeyFile
        $b = Backup-EncryptionConfig -Path $path
        $null = Invoke-KeyRotation -Path $path -Confirm:$false -WarningAction SilentlyContinue
        $null = Invoke-KeyRotation -Path $path -Confirm:$false -WarningAction SilentlyContinue
        # "What if:" goes to the host, not to a stream: read it from a fresh pwsh's output.
        $r = Invoke-FreshPwsh -NonInteractive -Command "Import-Module `$env:SECRETSPS_MODULE; Restore-EncryptionConfig -Path '$path' -BackupPath '$($b.FullName)' -WhatIf"
        $r.StdOut | Should -Match 'versions v1; versions lost: v2, v3'
    }

    It '-Latest restores the newest backup; with none it is NoBackupFound' {
        $path = New-TestKeyFile
        $e = Get-ErrorRecord { Restore-EncryptionConfig -Path $path -Latest -Force -ErrorAction Stop }
        Assert-SecretsPSError $e 'NoBackupFound' 'ObjectNotFound'
        $null = Invoke-KeyRotation -Path $path -Confirm:$false -WarningAction SilentlyContinue  # backs up the v1 file
        $afterRotation = Get-FileHashString $path
        $null = Backup-EncryptionConfig -Path $path                                             # the newest: v1 and v2
        $null = Invoke-KeyRotation -Path $path -Confirm:$false -WarningAction SilentlyContinue
        Restore-EncryptionConfig -Path $path -Latest -Force
        Get-FileHashString $path | Should -Be $afterRotation
    }

    It '-BackupPath completion offers the key file''s backups, newest first, and no other file' {
        $folder = New-TestFolder
        $path = New-TestKeyFile -Folder $folder
        Copy-Item -LiteralPath $path -Destination "$path.backup_20240101_000000"
        Copy-Item -LiteralPath $path -Destination "$path.backup_20240102_000000.cms"
        Copy-Item -LiteralPath $path -Destination "$path.production.backup_20240103_000000"
        Set-Content -LiteralPath "$path.lock" -Value ''
        Set-Content -LiteralPath (Join-Path $folder 'notes.txt') -Value ''
        $line = "Restore-EncryptionConfig -Path '$path' -BackupPath "
        $completions = @((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches)
        $completions.ListItemText | Should -Be @('.env.crypto.backup_20240102_000000.cms', '.env.crypto.backup_20240101_000000')
        $completions[0].CompletionText | Should -Be "'$path.backup_20240102_000000.cms'"
    }
}

Describe 'Loading' {
    It 'loads System.Security.Cryptography.Pkcs in the module''s own context, beside PowerShell''s, in a fresh pwsh' {
        $path = New-TestKeyFile
        $command = @"
`$ErrorActionPreference = 'Stop'
Import-Module `$env:SECRETSPS_MODULE
`$null = Protect-CmsMessage -To '$($recovery.Certificate)' -Content 'PowerShell''s own CMS first'
`$b = Backup-EncryptionConfig -Path '$path' -To '$($recovery.Certificate)'
`$mine = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { `$_.GetName().Name -eq 'System.Security.Cryptography.Pkcs' -and [Runtime.Loader.AssemblyLoadContext]::GetLoadContext(`$_).Name -eq 'SecretsPS' }
"ENCRYPTED=`$(`$b.Encrypted)"
"CONTEXT=`$(@(`$mine).Count) `$(`$mine.Location)"
"@
        $r = Invoke-FreshPwsh -Command $command -NonInteractive
        $r.StdErr | Should -BeNullOrEmpty
        $r.StdOut | Should -Match 'ENCRYPTED=True'
        $r.StdOut | Should -Match 'CONTEXT=1 .*Dependencies.System\.Security\.Cryptography\.Pkcs\.dll'
    }
}
