# Issue #18: an encrypted backup leaves no plaintext copy anywhere (share, key folder, temp), and no key material reaches
# a stream, an error record or the log, on success or on any failure of backup, listing or restore.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'CertificateFixtures.psm1') -Force
    $script:savedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'
}

AfterAll {
    if ($script:savedEnvironment) { Restore-KeyEnvironment $script:savedEnvironment }
}

Describe 'Encrypted backups never leak' {
    BeforeAll {
        $ErrorActionPreference = 'Continue'
        $folder = New-TestFolder
        $keyFolder = Join-Path $folder 'keys'
        $share = Join-Path $folder 'share'
        $logFolder = Join-Path $folder 'logs'
        $certs = Join-Path $folder 'certs'
        $null = New-Item -ItemType Directory -Path $keyFolder, $share, $logFolder, $certs
        $recovery = New-TestCertificate -Folder $certs -Name recovery
        $stranger = New-TestCertificate -Folder $certs -Name stranger
        $path = Join-Path $keyFolder '.env.crypto'
        $log = Join-Path $logFolder 'backup.log'
        $common = @{ Verbose = $true; Debug = $true; LogFile = $log; WarningAction = 'Continue'; ErrorAction = 'Continue'; InformationAction = 'Continue' }
        $captured = [Collections.Generic.List[object]]::new()
        $state = @{}
        $tempBefore = @(Get-ChildItem -LiteralPath ([IO.Path]::GetTempPath()) -Force -File -ErrorAction SilentlyContinue | ForEach-Object FullName)

        function Step([scriptblock] $Block) {
            try { foreach ($r in (& $Block *>&1)) { $captured.Add($r) } }
            catch { $captured.Add($_) }
        }

        $null = New-EncryptionConfig -Path $path -WarningAction SilentlyContinue
        $null = Invoke-KeyRotation -Path $path -Confirm:$false -WarningAction SilentlyContinue
        $secrets = @(Get-KeyMaterial -Path $path)
        Copy-Item -LiteralPath $path -Destination (Join-Path $certs 'original')

        Step { $state.Backup = Backup-EncryptionConfig -Path $path -To $recovery.Certificate -Destination $share -Keep 5 @common; $state.Backup }
        Step { $state.Second = Backup-EncryptionConfig -Path $path -To $recovery.Certificate, $stranger.Certificate -Destination $share @common; $state.Second }
        Step { Get-EncryptionConfigBackup -Path $path -Destination $share @common }
        Step { Restore-EncryptionConfig -Path $path -BackupPath $state.Backup.FullName -Certificate (Get-TestCertificateWithKey $recovery) -Force -PassThru @common }
        # Failures: a wrong certificate, one without a key, a damaged and a tampered backup, an unfit certificate.
        Step { Restore-EncryptionConfig -Path $path -BackupPath $state.Backup.FullName -Certificate $recovery.Certificate -Force @common }
        Step { Restore-EncryptionConfig -Path $path -BackupPath $state.Backup.FullName -Certificate (Join-Path $certs 'nothing.pem') -Force @common }
        $bytes = [IO.File]::ReadAllBytes($state.Backup.FullName)
        $damaged = Join-Path $share '.env.crypto.backup_20200101_000000.cms'
        [IO.File]::WriteAllBytes($damaged, [byte[]]$bytes[0..($bytes.Length - 40)])
        Step { Restore-EncryptionConfig -Path $path -BackupPath $damaged -Certificate $recovery.Pem -Force @common }
        $tampered = Join-Path $share '.env.crypto.backup_20200101_000001.cms'
        $t = [byte[]]$bytes.Clone(); $t[$t.Length - 200] = if ($t[$t.Length - 200] -eq 65) { 66 } else { 65 }
        [IO.File]::WriteAllBytes($tampered, $t)
        Step { Restore-EncryptionConfig -Path $path -BackupPath $tampered -Certificate $recovery.Pem -Force @common }
        Step { Backup-EncryptionConfig -Path $path -To (New-DatedTestCertificate -Name old -NotBefore ([DateTimeOffset]::UtcNow.AddDays(-9)) -NotAfter ([DateTimeOffset]::UtcNow.AddDays(-1))) -Destination $share @common }

        function ConvertTo-SearchText($Record) {
            if ($null -eq $Record) { return '' }
            if ($Record -is [Management.Automation.ErrorRecord]) {
                return @($Record.ToString(), $Record.Exception.ToString(), "$($Record.TargetObject)", "$($Record.ErrorDetails)") -join "`n"
            }
            if ($Record -is [Management.Automation.InformationalRecord]) { return $Record.Message }
            if ($Record -is [Management.Automation.InformationRecord]) { return "$($Record.MessageData)" }
            return (($Record.PSObject.Properties | ForEach-Object { "$($_.Name)=$($_.Value)" }) -join "`n") + "`n" + ($Record | Out-String -Width 4096)
        }
        $streamText = ($captured | ForEach-Object { ConvertTo-SearchText $_ }) -join "`n"
        $logText = [IO.File]::ReadAllText($log)
        # Every regular file the commands could have written: the share, the key folder (but the key file and the plain
        # backups its own changes made), and what appeared in the temp folder meanwhile.
        $written = @(Get-ChildItem -LiteralPath $share, $keyFolder -Force -File |
                Where-Object { $_.FullName -ne $path -and $_.Name -notmatch '^\.env\.crypto\.backup_\d{8}_\d{6}(_\d+)?$' }) +
            @(Get-ChildItem -LiteralPath ([IO.Path]::GetTempPath()) -Force -File -ErrorAction SilentlyContinue |
                Where-Object { $_.FullName -notin $tempBefore -and $_.Length -lt 1MB -and -not $_.LinkTarget -and $_.UnixMode -notlike 'p*' })
    }

    It 'made the encrypted backups, restored one, and refused each bad input with its error' {
        $state.Backup.Encrypted | Should -BeTrue
        Get-FileHashString $path | Should -Be (Get-FileHashString (Join-Path $certs 'original'))
        $ids = $captured | Where-Object { $_ -is [Management.Automation.ErrorRecord] } | ForEach-Object { ($_.FullyQualifiedErrorId -split ',')[0] }
        foreach ($id in 'CertificateNoPrivateKey', 'CertificateNotFound', 'CertificateExpired') { $ids | Should -Contain $id }
        @($ids | Where-Object { $_ -match '^Backup(EncryptedDamaged|DecryptFailed|Invalid)$' }).Count | Should -Be 2
    }

    It 'knows the secrets it looks for (they are found in the key file itself)' {
        $secrets.Count | Should -BeGreaterThan 5
        Find-SecretInText -Text ([IO.File]::ReadAllText($path)) -Secrets $secrets | Should -Not -BeNullOrEmpty
    }

    It 'shows no key, salt or derived key in any stream or error record' {
        $captured.Count | Should -BeGreaterThan 10
        Find-SecretInText -Text $streamText -Secrets $secrets | Should -BeNullOrEmpty
    }

    It 'logs the backups and the thumbprints, and no key material' {
        $logText | Should -Match ([regex]::Escape($state.Backup.FullName))
        $logText | Should -Match $state.Backup.Recipients
        Find-SecretInText -Text $logText -Secrets $secrets | Should -BeNullOrEmpty
    }

    It 'leaves no file with key material in the share, beside the key file or in the temp folder' {
        $written.Count | Should -BeGreaterThan 2
        foreach ($f in $written) {
            Find-SecretInText -Text ([IO.File]::ReadAllText($f.FullName)) -Secrets $secrets | Should -BeNullOrEmpty -Because $f.FullName
        }
    }
}
