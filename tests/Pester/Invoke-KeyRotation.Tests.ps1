BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $damagedCases = Get-DamagedKeyFileCases
}

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

Describe 'Invoke-KeyRotation' {

    Context 'rotating to a new active version' {
        BeforeAll {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $oldBytes = [IO.File]::ReadAllBytes($path)
            $oldLines = Get-KeyFileLines $path
            $oldValue = Protect-EncryptedValue -Path $path -Value 'before the rotation'
            $t0 = [DateTime]::UtcNow.AddSeconds(-2)
            $output = @(Invoke-KeyRotation -Path $path -WarningVariable warnings -WarningAction SilentlyContinue)
            $t1 = [DateTime]::UtcNow.AddSeconds(1)
            $values = Get-KeyFileValues $path
            $lines = Get-KeyFileLines $path
        }

        It 'emits nothing without -PassThru' {
            $output.Count | Should -Be 0
        }

        It 'adds v2, the next vN, and makes it the active version' {
            $values['ACTIVE_ENCRYPTION_VERSION'] | Should -Be 'v2'
            $list = Get-EncryptionKey -Path $path
            $list.Version | Should -Be @('v1', 'v2')
            ($list | Where-Object IsActive).Version | Should -Be 'v2'
        }

        It 'keeps every line of v1 and the header verbatim, and appends the five lines of v2' {
            $kept = $oldLines | Where-Object { $_ -notlike 'ACTIVE_ENCRYPTION_VERSION=*' }
            foreach ($l in $kept) { $lines | Should -Contain $l }
            $new = $lines | Where-Object { $_ -like '*__v2=*' }
            ($new | ForEach-Object { ($_ -split '=', 2)[0] }) | Should -Be @('ENCRYPTION_KEYS__v2', 'ENCRYPTION_SALT__v2', 'ENCRYPTION_SALT_HASH__v2', 'ENCRYPTION_KDF__v2', 'ENCRYPTION_CREATED__v2')
            $lines[0] | Should -Be $oldLines[0]
            $lines[1] | Should -Be $oldLines[1]
        }

        It 'gives v2 a fresh 32-byte key and 16-byte salt whose hash is recorded' {
            [Convert]::FromBase64String($values['ENCRYPTION_KEYS__v2']).Length | Should -Be 32
            $values['ENCRYPTION_KEYS__v2'] | Should -Not -Be $values['ENCRYPTION_KEYS__v1']
            $salt = [Convert]::FromBase64String($values['ENCRYPTION_SALT__v2'])
            $salt.Length | Should -Be 16
            $values['ENCRYPTION_SALT_HASH__v2'] | Should -BeExactly (Get-Sha256Hex $salt)
        }

        It 'first backs the previous file up byte for byte as KEYFILE.backup_yyyyMMdd_HHmmss (UTC), mode 0600' {
            $backups = Get-BackupFiles $path
            $backups.Count | Should -Be 1
            [IO.File]::ReadAllBytes($backups[0].FullName) | Should -Be $oldBytes
            $stamp = [DateTime]::ParseExact(($backups[0].Name -replace '^.*\.backup_(\d{8}_\d{6}).*$', '$1'), 'yyyyMMdd_HHmmss', $null)
            $stamp | Should -BeGreaterOrEqual $t0.AddTicks(-($t0.Ticks % [TimeSpan]::TicksPerSecond))
            $stamp | Should -BeLessOrEqual $t1
            if (-not $IsWindows) { Get-TestFileMode $backups[0].FullName | Should -Be '600' }
        }

        It 'keeps the key file at mode 0600 and leaves no temporary file' {
            if (-not $IsWindows) { Get-TestFileMode $path | Should -Be '600' }
            (Get-ChildItem -LiteralPath $folder -Force | Where-Object { $_.Name -notmatch '^\.env\.crypto(\.backup_\d{8}_\d{6}(_\d+)?|\.lock)?$' }) | Should -BeNullOrEmpty
        }

        It 'warns what to do next (re-encrypt to v2)' {
            ($warnings -join "`n") | Should -Match 'v2'
            ($warnings -join "`n") | Should -Match 'Start-Reencryption'
        }

        It 'still decrypts values made with v1, and new values use v2' {
            Unprotect-EncryptedValue -Path $path -Value $oldValue | Should -BeExactly 'before the rotation'
            Protect-EncryptedValue -Path $path -Value 'after' | Should -BeLike 'v2:*'
        }
    }

    Context 'options' {
        It '-PassThru emits the new version (KeyVersionInfo) named by -NewVersion' {
            $path = New-TestKeyFile
            $v = Invoke-KeyRotation -Path $path -NewVersion 'v2-prod' -PassThru -WarningAction SilentlyContinue
            $v.GetType().FullName | Should -Be 'SecretsPS.Core.Config.KeyVersionInfo'
            $v.Version | Should -Be 'v2-prod'
            $v.IsActive | Should -BeTrue
            $v.KeyLength | Should -Be 32
            $v.Path | Should -Be $path
        }

        It 'takes the highest vN plus one as the automatic name' {
            $path = Write-TestKeyFile -Path (Join-Path (New-TestFolder) '.env.crypto') -Text (New-KeyFileText -Active v1 -Versions (New-KeyVersionText v1), (New-KeyVersionText v7), (New-KeyVersionText prod))
            (Invoke-KeyRotation -Path $path -PassThru -WarningAction SilentlyContinue).Version | Should -Be 'v8'
        }

        It 'uses -KeyBytes, -SaltBytes and -Kdf' {
            $path = New-TestKeyFile
            $v = Invoke-KeyRotation -Path $path -KeyBytes 64 -SaltBytes 32 -Kdf 'pbkdf2-sha256:1000' -PassThru -WarningAction SilentlyContinue
            $v.KeyLength | Should -Be 64
            $v.SaltLength | Should -Be 32
            $v.Kdf | Should -Be 'pbkdf2-sha256:1000'
            (Get-KeyFileValues $path)['ENCRYPTION_KDF__v2'] | Should -Be 'pbkdf2-sha256:1000'
            Unprotect-EncryptedValue -Path $path -Value (Protect-EncryptedValue -Path $path -Value 'p') | Should -Be 'p'
        }

        It 'keeps comments, blank lines and unknown settings verbatim' {
            $text = "# my own comment`nAPP_SETTING=keep me  # trailing`n`nexport OTHER='x y'`n" + (New-KeyFileText -Active v1 -Versions (New-KeyVersionText v1)) + "# end comment`nBROKEN LINE WITHOUT EQUALS`n"
            $path = Write-TestKeyFile -Path (Join-Path (New-TestFolder) '.env.crypto') -Text $text
            $null = Invoke-KeyRotation -Path $path -WarningAction SilentlyContinue
            $lines = Get-KeyFileLines $path
            foreach ($l in '# my own comment', 'APP_SETTING=keep me  # trailing', "export OTHER='x y'", '# end comment', 'BROKEN LINE WITHOUT EQUALS') {
                $lines | Should -Contain $l
            }
            [array]::IndexOf($lines, '# my own comment') | Should -BeLessThan ([array]::IndexOf($lines, 'APP_SETTING=keep me  # trailing'))
        }

        It 'keeps the mode the deployment gave a group-readable key file (FORMATS.md §1); the backup is 0600' -Skip:$IsWindows {
            $path = Write-TestKeyFile -Path (Join-Path (New-TestFolder) '.env.crypto') -Text (New-KeyFileText -Active v1 -Versions (New-KeyVersionText v1)) -Mode '644'
            $null = Invoke-KeyRotation -Path $path -WarningAction SilentlyContinue
            Get-TestFileMode $path | Should -Be '644'
            Get-TestFileMode (Get-BackupFiles $path)[0].FullName | Should -Be '600'
        }

        It 'loses no version when several rotations run at once (the lock)' {
            $path = New-TestKeyFile
            $module = Get-SecretsPSModulePath
            $jobs = 1..4 | ForEach-Object {
                Start-ThreadJob -ArgumentList $path, $_, $module -ScriptBlock {
                    param($path, $n, $module)
                    Import-Module $module
                    1..3 | ForEach-Object { Invoke-KeyRotation -Path $path -Inactive -NewVersion "t$n-$_" -Force -ErrorAction Stop }
                }
            }
            $null = $jobs | Wait-Job -Timeout 60
            $jobs | Receive-Job -ErrorAction Stop
            $jobs | Remove-Job -Force
            (Get-EncryptionKey -Path $path).Count | Should -Be 13
        }
    }

    Context '-Inactive' {
        BeforeAll {
            $path = New-TestKeyFile
            $null = Invoke-KeyRotation -Path $path -Inactive -WarningVariable warnings
        }

        It 'adds v2 for decryption only: v1 stays active' {
            (Get-KeyFileValues $path)['ACTIVE_ENCRYPTION_VERSION'] | Should -Be 'v1'
            (Get-EncryptionKey -Path $path | Where-Object IsActive).Version | Should -Be 'v1'
            (Get-EncryptionKey -Path $path -Version v2).IsActive | Should -BeFalse
        }

        It 'made a backup first' {
            (Get-BackupFiles $path).Count | Should -Be 1
        }

        It 'does not tell to re-encrypt yet' {
            ($warnings -join "`n") | Should -Not -Match 'Start-Reencryption'
        }
    }

    Context '-NoPersist' {
        It 'writes nothing and emits the variable lines of the new active version' {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $before = Get-FileHashString $folder
            $lines = @(Invoke-KeyRotation -Path $path -NoPersist)
            Get-FileHashString $folder | Should -Be $before
            ($lines | ForEach-Object { ($_ -split '=', 2)[0] }) | Should -Be @('ACTIVE_ENCRYPTION_VERSION', 'ENCRYPTION_KEYS__v2', 'ENCRYPTION_SALT__v2', 'ENCRYPTION_SALT_HASH__v2', 'ENCRYPTION_KDF__v2', 'ENCRYPTION_CREATED__v2')
            $lines | ForEach-Object { $_ | Should -Match '^[A-Z_]+(__v2)?="[^"]+"$' }
        }

        It 'with -Inactive emits only the five lines of the version' {
            $path = New-TestKeyFile
            $lines = @(Invoke-KeyRotation -Path $path -NoPersist -Inactive -NewVersion 'staged')
            $lines.Count | Should -Be 5
            $lines[0] | Should -BeLike 'ENCRYPTION_KEYS__staged=*'
        }
    }

    Context '-WhatIf' {
        It 'changes nothing on disk (<Name>)' -ForEach @(
            @{ Name = 'rotation'; Extra = @{} }
            @{ Name = 'with -Inactive'; Extra = @{ Inactive = $true } }
            @{ Name = 'with -Force'; Extra = @{ Force = $true } }
        ) {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $before = Get-FileHashString $folder
            Invoke-KeyRotation -Path $path -WhatIf @Extra
            Get-FileHashString $folder | Should -Be $before
        }
    }

    Context 'errors' {
        BeforeEach {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $before = Get-FileHashString $folder
        }

        It 'refuses -NewVersion <Name> (VersionNameInvalid, InvalidArgument) and changes nothing' -ForEach @(
            @{ Name = 'with a colon'; Value = 'v2:x' }
            @{ Name = 'with a space'; Value = 'v 2' }
            @{ Name = 'of 33 characters'; Value = ('v' * 33) }
        ) {
            $err = { Invoke-KeyRotation -Path $path -NewVersion $Value -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'VersionNameInvalid' 'InvalidArgument'
            Get-FileHashString $folder | Should -Be $before
        }

        It 'refuses a version that exists (KeyVersionExists, ResourceExists) and changes nothing' {
            $err = { Invoke-KeyRotation -Path $path -NewVersion v1 -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'KeyVersionExists' 'ResourceExists'
            Get-FileHashString $folder | Should -Be $before
        }

        It 'refuses an unknown -Kdf (KdfUnknown, an invalid argument) and changes nothing' {
            $err = { Invoke-KeyRotation -Path $path -Kdf 'md5' -Force -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Match '^KdfUnknown,'
            Get-FileHashString $folder | Should -Be $before
            $err.CategoryInfo.Category.ToString() | Should -Be 'InvalidArgument'
        }

        It 'refuses -Kdf raw with a 16-byte key (RawKeyLength, InvalidArgument) and changes nothing' {
            $err = { Invoke-KeyRotation -Path $path -Kdf raw -KeyBytes 16 -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'RawKeyLength' 'InvalidArgument'
            Get-FileHashString $folder | Should -Be $before
        }

        It 'fails with KeyFileNotFound (ObjectNotFound) for a missing file and creates nothing' {
            $err = { Invoke-KeyRotation -Path (Join-Path $folder 'missing.env') -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'KeyFileNotFound' 'ObjectNotFound'
            Get-FileHashString $folder | Should -Be $before
        }

        It 'refuses to rotate a key file with <Problem> (<Category>) and changes nothing, not even a backup' -ForEach $damagedCases {
            $damaged = Write-DamagedKeyFile -Path (Join-Path $folder 'damaged.env') -Problem $Problem
            $snapshot = Get-FileHashString $folder
            $err = { Invoke-KeyRotation -Path $damaged -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err $Problem $Category
            Get-FileHashString $folder | Should -Be $snapshot
        }
    }
}
