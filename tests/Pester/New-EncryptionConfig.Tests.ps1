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

Describe 'New-EncryptionConfig' {

    Context 'creating a key file in an empty folder' {
        BeforeAll {
            $folder = New-TestFolder
            $path = Join-Path $folder '.env.crypto'
            $started = [DateTimeOffset]::UtcNow.AddSeconds(-1)
            $result = @(New-EncryptionConfig -Path $path -WarningVariable warnings -WarningAction SilentlyContinue)
            $values = Get-KeyFileValues $path
            $lines = Get-KeyFileLines $path
        }

        It 'emits one KeyVersionInfo describing the new active version' {
            $result.Count | Should -Be 1
            $v = $result[0]
            $v.GetType().FullName | Should -Be 'SecretsPS.Core.Config.KeyVersionInfo'
            $v.Version | Should -Be 'v1'
            $v.IsActive | Should -BeTrue
            $v.Kdf | Should -Be 'hkdf-sha256'
            $v.KeyLength | Should -Be 32
            $v.SaltLength | Should -Be 16
            $v.Source.ToString() | Should -Be 'File'
            $v.SaltIntegrity | Should -Be 'Passed'
            $v.Path | Should -Be $path
            $v.Created | Should -BeGreaterOrEqual $started
            $v.Created | Should -BeLessOrEqual ([DateTimeOffset]::UtcNow.AddSeconds(1))
        }

        It 'writes the two header comments, a blank line, then the active version and the five lines of v1 in order' {
            $lines[0] | Should -Match '^# Gerado em \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$'
            $lines[1] | Should -BeExactly '# MANTENHA ESTE ARQUIVO SEGURO - NÃO VERSIONE EM GIT'
            $lines[2] | Should -BeExactly ''
            $names = $lines[3..($lines.Count - 1)] | ForEach-Object { ($_ -split '=', 2)[0] }
            $names | Should -Be @('ACTIVE_ENCRYPTION_VERSION', 'ENCRYPTION_KEYS__v1', 'ENCRYPTION_SALT__v1', 'ENCRYPTION_SALT_HASH__v1', 'ENCRYPTION_KDF__v1', 'ENCRYPTION_CREATED__v1')
            $lines[3..($lines.Count - 1)] | ForEach-Object { $_ | Should -Match '^[A-Z_]+(__v1)?="[^"]+"$' }
        }

        It 'is UTF-8 without BOM, with LF line ends and a final line end' {
            $bytes = [IO.File]::ReadAllBytes($path)
            ($bytes[0] -eq 0xEF -and $bytes[1] -eq 0xBB -and $bytes[2] -eq 0xBF) | Should -BeFalse
            $bytes | Should -Not -Contain 13
            $bytes[-1] | Should -Be 10
            { [Text.UTF8Encoding]::new($false, $true).GetString($bytes) } | Should -Not -Throw
        }

        It 'stores a 32-byte key and a 16-byte salt as padded standard base64' {
            $values['ACTIVE_ENCRYPTION_VERSION'] | Should -BeExactly 'v1'
            $values['ENCRYPTION_KEYS__v1'] | Should -Match '^[A-Za-z0-9+/]{43}=$'
            $values['ENCRYPTION_SALT__v1'] | Should -Match '^[A-Za-z0-9+/]{22}==$'
            [Convert]::FromBase64String($values['ENCRYPTION_KEYS__v1']).Length | Should -Be 32
            [Convert]::FromBase64String($values['ENCRYPTION_SALT__v1']).Length | Should -Be 16
        }

        It 'records ENCRYPTION_SALT_HASH__v1 as the lowercase hex SHA-256 of the decoded salt' {
            $salt = [Convert]::FromBase64String($values['ENCRYPTION_SALT__v1'])
            $values['ENCRYPTION_SALT_HASH__v1'] | Should -BeExactly (Get-Sha256Hex $salt)
        }

        It 'records the KDF and the creation time the output object reports' {
            $values['ENCRYPTION_KDF__v1'] | Should -BeExactly 'hkdf-sha256'
            $values['ENCRYPTION_CREATED__v1'] | Should -Match '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$'
            [DateTimeOffset]::Parse($values['ENCRYPTION_CREATED__v1'], [Globalization.CultureInfo]::InvariantCulture) | Should -Be $result[0].Created
        }

        It 'creates the file with mode 0600' -Skip:$IsWindows {
            Get-TestFileMode $path | Should -Be '600'
        }

        It 'leaves only the key file (and an empty lock file) in the folder: no backup, no temporary file' {
            Get-FileHashString $folder | Should -BeExactly ".env.crypto  $(Get-FileHashString $path)"
        }

        It 'warns to keep the file out of version control and to back it up' {
            ($warnings -join "`n") | Should -Match 'gitignore'
            ($warnings -join "`n") | Should -Match 'Backup-EncryptionConfig'
        }

        It 'makes a file the other cmdlets accept' {
            Test-EncryptionConfig -Path $path | Should -BeTrue
        }
    }

    Context 'options' {
        It 'uses -Version, -KeyBytes, -SaltBytes and -Kdf for the new version' {
            $path = Join-Path (New-TestFolder) 'keys.env'
            $v = New-EncryptionConfig -Path $path -Version 'v2-prod' -KeyBytes 48 -SaltBytes 24 -Kdf 'pbkdf2-sha256:1000' -WarningAction SilentlyContinue
            $v.Version | Should -Be 'v2-prod'
            $v.KeyLength | Should -Be 48
            $v.SaltLength | Should -Be 24
            $v.Kdf | Should -Be 'pbkdf2-sha256:1000'
            $values = Get-KeyFileValues $path
            $values['ACTIVE_ENCRYPTION_VERSION'] | Should -Be 'v2-prod'
            [Convert]::FromBase64String($values['ENCRYPTION_KEYS__v2-prod']).Length | Should -Be 48
            [Convert]::FromBase64String($values['ENCRYPTION_SALT__v2-prod']).Length | Should -Be 24
            $values['ENCRYPTION_KDF__v2-prod'] | Should -Be 'pbkdf2-sha256:1000'
            Unprotect-EncryptedValue -Path $path -Value (Protect-EncryptedValue -Path $path -Value 'x') | Should -BeExactly 'x'
        }

        It 'accepts -Kdf raw with a 32-byte key' {
            $path = Join-Path (New-TestFolder) '.env.crypto'
            (New-EncryptionConfig -Path $path -Kdf raw -WarningAction SilentlyContinue).Kdf | Should -Be 'raw'
            (Get-KeyFileValues $path)['ENCRYPTION_KDF__v1'] | Should -Be 'raw'
        }

        It 'creates a missing parent folder' {
            $path = Join-Path (New-TestFolder) 'a/b/.env.crypto'
            $null = New-EncryptionConfig -Path $path -WarningAction SilentlyContinue
            Test-Path -LiteralPath $path | Should -BeTrue
        }

        It 'resolves a relative -Path against the PowerShell location, not the process folder' {
            $folder = New-TestFolder
            Push-Location $folder
            try { $null = New-EncryptionConfig -Path 'relative.env' -WarningAction SilentlyContinue }
            finally { Pop-Location }
            Test-Path -LiteralPath (Join-Path $folder 'relative.env') | Should -BeTrue
        }

        It 'writes ./.env.crypto when -Path is omitted, and .env.crypto.production with -Environment production' {
            $folder = New-TestFolder
            Push-Location $folder
            try {
                $default = New-EncryptionConfig -WarningAction SilentlyContinue
                $production = New-EncryptionConfig -Environment production -Version p1 -WarningAction SilentlyContinue
            }
            finally { Pop-Location }
            $default.Path | Should -Be (Join-Path $folder '.env.crypto')
            $production.Path | Should -Be (Join-Path $folder '.env.crypto.production')
            (Get-KeyFileValues (Join-Path $folder '.env.crypto.production'))['ACTIVE_ENCRYPTION_VERSION'] | Should -Be 'p1'
        }
    }

    Context 'an existing key file' {
        BeforeEach {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $oldBytes = [IO.File]::ReadAllBytes($path)
            $oldKey = (Get-KeyFileValues $path)['ENCRYPTION_KEYS__v1']
            $before = Get-FileHashString $folder
        }

        It 'refuses to overwrite it without -Force (KeyFileExists, ResourceExists) and changes nothing' {
            $err = { New-EncryptionConfig -Path $path -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'KeyFileExists' 'ResourceExists'
            $err.Exception.Message | Should -Match '-Force'
            Get-FileHashString $folder | Should -Be $before
        }

        It 'refuses under -WhatIf too, without -Force' {
            $err = { New-EncryptionConfig -Path $path -WhatIf -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'KeyFileExists' 'ResourceExists'
            Get-FileHashString $folder | Should -Be $before
        }

        It 'replaces it with -Force after a byte-for-byte backup named KEYFILE.backup_yyyyMMdd_HHmmss (UTC), mode 0600' {
            $t0 = [DateTime]::UtcNow.AddSeconds(-2)
            $new = New-EncryptionConfig -Path $path -Force -WarningAction SilentlyContinue
            $t1 = [DateTime]::UtcNow.AddSeconds(1)
            $new.Version | Should -Be 'v1'
            $backups = Get-BackupFiles $path
            $backups.Count | Should -Be 1
            [IO.File]::ReadAllBytes($backups[0].FullName) | Should -Be $oldBytes
            $stamp = [DateTime]::ParseExact(($backups[0].Name -replace '^.*\.backup_(\d{8}_\d{6}).*$', '$1'), 'yyyyMMdd_HHmmss', $null)
            $stamp | Should -BeGreaterOrEqual $t0.AddTicks(-($t0.Ticks % [TimeSpan]::TicksPerSecond))
            $stamp | Should -BeLessOrEqual $t1
            if (-not $IsWindows) {
                Get-TestFileMode $backups[0].FullName | Should -Be '600'
                Get-TestFileMode $path | Should -Be '600'
            }
            (Get-KeyFileValues $path)['ENCRYPTION_KEYS__v1'] | Should -Not -Be $oldKey
        }

        It 'validates -Version before looking at the existing file (VersionNameInvalid) and changes nothing' {
            $err = { New-EncryptionConfig -Path $path -Version 'bad:name' -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'VersionNameInvalid' 'InvalidArgument'
            Get-FileHashString $folder | Should -Be $before
        }
    }

    Context '-WhatIf' {
        It 'creates nothing in an empty folder' {
            $folder = New-TestFolder
            New-EncryptionConfig -Path (Join-Path $folder '.env.crypto') -WhatIf
            Get-FileHashString $folder | Should -BeExactly ''
        }

        It 'changes nothing when replacing with -Force -WhatIf' {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $before = Get-FileHashString $folder
            $hash = Get-FileHashString $path
            New-EncryptionConfig -Path $path -Force -WhatIf
            Get-FileHashString $path | Should -Be $hash
            Get-FileHashString $folder | Should -Be $before
        }
    }

    Context 'invalid arguments' {
        It 'refuses the version name <Name> (VersionNameInvalid, InvalidArgument) and writes nothing' -ForEach @(
            @{ Name = 'has:colon'; Value = 'v1:x' }
            @{ Name = 'with space'; Value = 'v 1' }
            @{ Name = 'too long (33 characters)'; Value = ('v' * 33) }
            @{ Name = 'starting with a dot'; Value = '.v1' }
        ) {
            $folder = New-TestFolder
            $err = { New-EncryptionConfig -Path (Join-Path $folder '.env.crypto') -Version $Value -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'VersionNameInvalid' 'InvalidArgument'
            Get-FileHashString $folder | Should -BeExactly ''
        }

        It 'accepts a 32-character version name' {
            $path = Join-Path (New-TestFolder) '.env.crypto'
            (New-EncryptionConfig -Path $path -Version ('v' * 32) -WarningAction SilentlyContinue).Version | Should -Be ('v' * 32)
        }

        It 'refuses an unknown -Kdf (KdfUnknown, an invalid argument) and writes nothing' {
            $folder = New-TestFolder
            $err = { New-EncryptionConfig -Path (Join-Path $folder '.env.crypto') -Kdf 'scrypt' -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Match '^KdfUnknown,'
            Get-FileHashString $folder | Should -BeExactly ''
            # A value given as a parameter is an argument; the same cmdlet reports -Kdf raw -KeyBytes 16 as InvalidArgument.
            $err.CategoryInfo.Category.ToString() | Should -Be 'InvalidArgument'
        }

        It 'refuses -Kdf raw with a key that is not 32 bytes (RawKeyLength, InvalidArgument) and writes nothing' {
            $folder = New-TestFolder
            $err = { New-EncryptionConfig -Path (Join-Path $folder '.env.crypto') -Kdf raw -KeyBytes 16 -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'RawKeyLength' 'InvalidArgument'
            Get-FileHashString $folder | Should -BeExactly ''
        }

        It 'refuses -KeyBytes below 16 and -SaltBytes below 8 at binding' {
            $folder = New-TestFolder
            { New-EncryptionConfig -Path (Join-Path $folder 'k') -KeyBytes 15 -ErrorAction Stop } | Should -Throw -ErrorId 'ParameterArgumentValidationError*'
            { New-EncryptionConfig -Path (Join-Path $folder 'k') -SaltBytes 7 -ErrorAction Stop } | Should -Throw -ErrorId 'ParameterArgumentValidationError*'
            Get-FileHashString $folder | Should -BeExactly ''
        }

        It 'refuses an -Environment that is not a plain name (EnvironmentNameInvalid)' {
            $folder = New-TestFolder
            $err = { New-EncryptionConfig -Path (Join-Path $folder '.env.crypto') -Environment '../prod' -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'EnvironmentNameInvalid' 'InvalidArgument'
            Get-FileHashString $folder | Should -BeExactly ''
        }
    }
}
