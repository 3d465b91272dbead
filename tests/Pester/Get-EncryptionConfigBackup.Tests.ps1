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

Describe 'Get-EncryptionConfigBackup' {

    Context 'the backups of a key file' {
        BeforeAll {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $certs = New-TestFolder
            $recovery = New-TestCertificate -Folder $certs -Name recovery
            foreach ($s in '20240101_000000', '20240103_000000', '20240103_000000_2') { Copy-Item -LiteralPath $path -Destination "$path.backup_$s" }
            $encrypted = Backup-EncryptionConfig -Path $path -To $recovery.Certificate
            # Other environments' backups, look-alikes and the lock: never listed.
            Copy-Item -LiteralPath $path -Destination "$path.production.backup_20250101_000000"
            foreach ($n in "$path.lock", "$path.backup_20240101_000000.bak", "$path.backup_notes.txt") { Set-Content -LiteralPath $n -Value 'x' }
            $listed = @(Get-EncryptionConfigBackup -Path $path)
        }

        It 'lists plain and encrypted backups of this key file only, newest first' {
            $listed.Name | Should -Be @($encrypted.Name, '.env.crypto.backup_20240103_000000_2', '.env.crypto.backup_20240103_000000', '.env.crypto.backup_20240101_000000')
        }

        It 'gives each as a typed object: UTC time with its zone, size, versions of a plain backup, encrypted or not, recipients' {
            $listed[0].PSObject.TypeNames[0] | Should -Be 'SecretsPS.Core.Backup.KeyFileBackup'
            $listed[0].Encrypted | Should -BeTrue
            $listed[0].Recipients | Should -Match 'CN=recovery'
            $listed[0].Versions | Should -BeNullOrEmpty
            $listed[1].Encrypted | Should -BeFalse
            $listed[1].Versions | Should -Be 'v1'
            $listed[1].ActiveVersion | Should -Be 'v1'
            $listed[1].Created | Should -Be ([DateTimeOffset]::new(2024, 1, 3, 0, 0, 0, [TimeSpan]::Zero))
            $listed[1].Created.Offset | Should -Be ([TimeSpan]::Zero)
            $listed[1].Size | Should -Be (Get-Item -LiteralPath $path -Force).Length
            $listed | ForEach-Object { $_.KeyFile | Should -Be $path }
        }

        It 'fits its default view in 80 columns, every header a property, the plain names whole' {
            $text = $listed | Format-Table | Out-String -Width 80
            $text -split "`n" | ForEach-Object { $_.TrimEnd().Length | Should -BeLessOrEqual 80 }
            $text | Should -Match ([regex]::Escape('.env.crypto.backup_20240103_000000_2'))
            $text | Should -Match '2024-01-03T00:00Z'
            $headers = ($text -split "`n" | Where-Object { $_ -match '^Created' }) -split '\s+' | Where-Object { $_ }
            $headers | Should -Be @('Created', 'Encrypted', 'Versions', 'Name')
            foreach ($h in $headers) { $listed[0].PSObject.Properties.Name | Should -Contain $h }
        }

        It 'round-trips through JSON and CSV as readable values (no type names, the time with its zone)' {
            $json = $listed | ConvertTo-Json | ConvertFrom-Json
            $json[1].Versions | Should -Be 'v1'
            ($listed[1] | ConvertTo-Json) | Should -Match '"Created": "2024-01-03T00:00:00\+00:00"'
            $csv = $listed | ConvertTo-Csv -NoTypeInformation
            ($csv -join "`n") | Should -Not -Match 'System\.'
            ($csv | ConvertFrom-Csv)[0].Recipients | Should -Be $listed[0].Recipients
        }

        It 'lists the backups of a key file that no longer exists (the first step of recovering it)' {
            $gone = New-TestFolder
            $p = New-TestKeyFile -Folder $gone
            $b = Backup-EncryptionConfig -Path $p
            Remove-Item -LiteralPath $p -Force
            (Get-EncryptionConfigBackup -Path $p).FullName | Should -Be $b.FullName
        }

        It 'binds its objects to Restore-EncryptionConfig -BackupPath on the pipeline' {
            $p = New-TestKeyFile
            $null = Backup-EncryptionConfig -Path $p
            $before = Get-FileHashString $p
            $null = Invoke-KeyRotation -Path $p -Confirm:$false -WarningAction SilentlyContinue
            Get-EncryptionConfigBackup -Path $p | Select-Object -Last 1 | Restore-EncryptionConfig -Path $p -Force
            Get-FileHashString $p | Should -Be $before
        }
    }

    Context '-Destination' {
        It 'lists the backups sent to that folder' {
            $p = New-TestKeyFile
            $share = New-TestFolder
            $b = Backup-EncryptionConfig -Path $p -Destination $share -WarningAction SilentlyContinue
            @(Get-EncryptionConfigBackup -Path $p -Destination $share).FullName | Should -Be @($b.FullName)
        }

        It 'fails with BackupDestinationNotFound for a folder that does not exist (a share not mounted)' {
            $p = New-TestKeyFile
            $missing = Join-Path (New-TestFolder) 'not-mounted'
            $e = Get-ErrorRecord { Get-EncryptionConfigBackup -Path $p -Destination $missing -ErrorAction Stop }
            Assert-SecretsPSError $e 'BackupDestinationNotFound' 'ObjectNotFound'
            Test-Path -LiteralPath $missing | Should -BeFalse
        }
    }
}
