BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:savedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'
}

AfterAll {
    if ($script:savedEnvironment) { Restore-KeyEnvironment $script:savedEnvironment }
}

Describe 'Backup-EncryptionConfig' {

    Context 'backing up a key file' {
        BeforeAll {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $hash = Get-FileHashString $path
            $t0 = [DateTime]::UtcNow.AddSeconds(-2)
            $result = @(Backup-EncryptionConfig -Path $path)
            $t1 = [DateTime]::UtcNow.AddSeconds(1)
        }

        It 'emits the backup as a typed backup object: path, UTC time, size, versions, not encrypted' {
            $result.Count | Should -Be 1
            $result[0].PSObject.TypeNames[0] | Should -Be 'SecretsPS.Core.Backup.KeyFileBackup'
            Test-Path -LiteralPath $result[0].FullName | Should -BeTrue
            Split-Path -Parent $result[0].FullName | Should -Be $folder
            $result[0].KeyFile | Should -Be $path
            $result[0].Created.Offset | Should -Be ([TimeSpan]::Zero)
            $result[0].Size | Should -Be (Get-Item -LiteralPath $path -Force).Length
            $result[0].Versions | Should -Be 'v1'
            $result[0].ActiveVersion | Should -Be 'v1'
            $result[0].Encrypted | Should -BeFalse
            $result[0].Recipients | Should -Be ''
        }

        It 'names it KEYFILE.backup_yyyyMMdd_HHmmss with the UTC time' {
            $result[0].Name | Should -Match '^\.env\.crypto\.backup_\d{8}_\d{6}$'
            $stamp = [DateTime]::ParseExact($result[0].Name.Substring('.env.crypto.backup_'.Length), 'yyyyMMdd_HHmmss', $null)
            $stamp | Should -BeGreaterOrEqual $t0.AddTicks(-($t0.Ticks % [TimeSpan]::TicksPerSecond))
            $stamp | Should -BeLessOrEqual $t1
        }

        It 'is a byte-for-byte copy with mode 0600' {
            Get-FileHashString $result[0].FullName | Should -Be $hash
            if (-not $IsWindows) { Get-TestFileMode $result[0].FullName | Should -Be '600' }
        }

        It 'leaves the key file unchanged' {
            Get-FileHashString $path | Should -Be $hash
        }

        It 'appends _2, _3 when backups are made within the same second' {
            $names = 1..3 | ForEach-Object { (Backup-EncryptionConfig -Path $path).Name }
            $names | Select-Object -Unique | Should -HaveCount 3
            $names | ForEach-Object { $_ | Should -Match '^\.env\.crypto\.backup_\d{8}_\d{6}(_\d+)?$' }
            @($names | Where-Object { $_ -match '_\d+$' -and $_ -notmatch '_\d{6}$' }).Count | Should -BeGreaterThan 0
        }

        It 'backs up a group-readable file as mode 0600 too' -Skip:$IsWindows {
            $p = New-TestKeyFile
            Set-TestFileMode -Path $p -Mode '644'
            Get-TestFileMode (Backup-EncryptionConfig -Path $p).FullName | Should -Be '600'
        }

        It 'finds the key file through $env:SECRETSPS_CONFIG when -Path is omitted' {
            $saved = Save-KeyEnvironment
            try {
                $env:SECRETSPS_CONFIG = $path
                Push-Location (New-TestFolder)
                try { Split-Path -Parent (Backup-EncryptionConfig).FullName | Should -Be $folder }
                finally { Pop-Location }
            }
            finally { Restore-KeyEnvironment $saved }
        }
    }

    Context '-Keep' {
        BeforeAll {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $stamps = '20240101_000000', '20240102_000000', '20240103_000000', '20240103_000000_2', '20240104_000000'
            foreach ($s in $stamps) { Write-TestKeyFile -Path "$path.backup_$s" -Text "old $s" | Out-Null }
            # Files that only look like backups, or belong to another key file: pruning must not touch them.
            $others = "$path.backup_notes.txt", "$path.backup_20240101_000000.bak", (Join-Path $folder 'other.env.backup_20200101_000000'), (Join-Path $folder 'unrelated.txt')
            foreach ($o in $others) { Write-TestKeyFile -Path $o -Text 'keep me' | Out-Null }
            $othersBefore = $others | ForEach-Object { Get-FileHashString $_ }
            $keyHash = Get-FileHashString $path
            $new = Backup-EncryptionConfig -Path $path -Keep 2
        }

        It 'keeps the newest N backups of the key file (the new one included) and deletes the older ones' {
            (Get-BackupFiles $path).Name | Should -Be @('.env.crypto.backup_20240104_000000', $new.Name)
        }

        It 'touches nothing else' {
            $others | ForEach-Object { Get-FileHashString $_ } | Should -Be $othersBefore
            Get-FileHashString $path | Should -Be $keyHash
        }

        It 'refuses -Keep 0 at binding' {
            { Backup-EncryptionConfig -Path $path -Keep 0 -ErrorAction Stop } | Should -Throw -ErrorId 'ParameterArgumentValidationError*'
        }
    }

    Context '-WhatIf' {
        It 'creates no backup and prunes nothing' {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            1..3 | ForEach-Object { Write-TestKeyFile -Path "$path.backup_2024010$($_)_000000" -Text "old $_" | Out-Null }
            $before = Get-FileHashString $folder
            Backup-EncryptionConfig -Path $path -WhatIf
            Backup-EncryptionConfig -Path $path -Keep 1 -WhatIf
            Get-FileHashString $folder | Should -Be $before
        }
    }

    Context 'errors' {
        It 'fails with KeyFileNotFound (ObjectNotFound) for a missing file and creates nothing' {
            $folder = New-TestFolder
            $err = { Backup-EncryptionConfig -Path (Join-Path $folder 'missing.env') -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'KeyFileNotFound' 'ObjectNotFound'
            Get-FileHashString $folder | Should -BeExactly ''
        }
    }
}
