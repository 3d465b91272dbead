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

Describe 'Protect-EncryptedValue' {

    Context 'protecting text with the active version' {
        BeforeAll {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $null = Invoke-KeyRotation -Path $path -Inactive -NewVersion v2
            $before = Get-FileHashString $folder
            $value = Protect-EncryptedValue -Path $path -Value 'hello world'
        }

        It 'emits one string in the stored format VERSION:BASE64URL(token text)' {
            @($value).Count | Should -Be 1
            $value | Should -BeOfType [string]
            $value | Should -Match '^v1:[A-Za-z0-9_-]+={0,2}$'
        }

        It 'wraps a Fernet token (version 0x80) whose text starts with gAAAAA' {
            $parts = Split-StoredValue $value
            $parts.Version | Should -Be 'v1'
            $parts.Token | Should -BeLike 'gAAAAA*'
            $parts.TokenBytes[0] | Should -Be 0x80
        }

        It 'decrypts back to the same text' {
            Unprotect-EncryptedValue -Path $path -Value $value | Should -BeExactly 'hello world'
        }

        It 'makes a different value each time (random IV)' {
            Protect-EncryptedValue -Path $path -Value 'hello world' | Should -Not -Be $value
        }

        It 'has the length FORMATS.md §4 gives for a plaintext of <N> UTF-8 bytes' -ForEach @(
            @{ N = 1 }, @{ N = 15 }, @{ N = 16 }, @{ N = 17 }, @{ N = 100 }, @{ N = 1000 }
        ) {
            $v = Protect-EncryptedValue -Path $path -Value ('a' * $N)
            $v.Length | Should -Be (Get-StoredValueLength -Version 'v1' -PlaintextBytes $N)
        }

        It 'round-trips non-ASCII text as UTF-8' {
            $text = 'ção – 日本 – ✓ – 😀'
            $v = Protect-EncryptedValue -Path $path -Value $text
            $v.Length | Should -Be (Get-StoredValueLength -Version 'v1' -PlaintextBytes ([Text.Encoding]::UTF8.GetByteCount($text)))
            Unprotect-EncryptedValue -Path $path -Value $v | Should -BeExactly $text
        }

        It 'takes a SecureString' {
            $secure = ConvertTo-SecureString 'from a secure string' -AsPlainText -Force
            $v = Protect-EncryptedValue -Path $path -Value $secure
            $v | Should -BeLike 'v1:*'
            Unprotect-EncryptedValue -Path $path -Value $v | Should -BeExactly 'from a secure string'
        }

        It 'takes values from the pipeline, one stored value each' {
            $values = 'a', 'b', 'c' | Protect-EncryptedValue -Path $path
            $values.Count | Should -Be 3
            ($values | Unprotect-EncryptedValue -Path $path) | Should -Be @('a', 'b', 'c')
        }

        It 'uses -Version instead of the active version' {
            $v = Protect-EncryptedValue -Path $path -Value 'with v2' -Version v2
            $v | Should -BeLike 'v2:*'
            Unprotect-EncryptedValue -Path $path -Value $v | Should -BeExactly 'with v2'
        }

        It 'reads the key file through $env:SECRETSPS_CONFIG when -Path is omitted' {
            $saved = Save-KeyEnvironment
            try {
                $env:SECRETSPS_CONFIG = $path
                Unprotect-EncryptedValue -Path $path -Value (Protect-EncryptedValue -Value 'via env') | Should -BeExactly 'via env'
            }
            finally { Restore-KeyEnvironment $saved }
        }

        It 'changes nothing on disk' {
            Get-FileHashString $folder | Should -Be $before
        }
    }

    Context 'errors' {
        BeforeAll {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $before = Get-FileHashString $folder
        }

        AfterEach {
            Get-FileHashString $folder | Should -Be $before
        }

        It 'refuses <Name> (ValueEmpty, InvalidArgument)' -ForEach @(
            @{ Name = 'an empty string'; Value = '' }
            @{ Name = '$null'; Value = $null }
            @{ Name = 'spaces only'; Value = '   ' }
            @{ Name = 'tabs and line ends only'; Value = "`t`r`n" }
        ) {
            $err = { Protect-EncryptedValue -Path $path -Value $Value -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'ValueEmpty' 'InvalidArgument'
        }

        It 'refuses an empty SecureString (ValueEmpty, InvalidArgument)' {
            $err = { Protect-EncryptedValue -Path $path -Value ([securestring]::new()) -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'ValueEmpty' 'InvalidArgument'
        }

        It 'refuses a value that is neither a string nor a SecureString (ValueTypeUnsupported)' {
            $err = { Protect-EncryptedValue -Path $path -Value 42 -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'ValueTypeUnsupported' 'InvalidArgument'
        }

        It 'writes a non-terminating error for a bad item in the pipeline and protects the others' {
            $out = @('one', '', 'three' | Protect-EncryptedValue -Path $path -ErrorVariable errs -ErrorAction SilentlyContinue)
            $out.Count | Should -Be 2
            $errs.Count | Should -Be 1
            Assert-SecretsPSError $errs[0] 'ValueEmpty' 'InvalidArgument'
        }

        It 'refuses a -Version that is not in the file (KeyVersionNotFound, ObjectNotFound)' {
            $err = { Protect-EncryptedValue -Path $path -Value 'x' -Version v9 -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'KeyVersionNotFound' 'ObjectNotFound'
        }

        It 'fails with KeyFileNotFound (ObjectNotFound) for a missing file' {
            $err = { Protect-EncryptedValue -Path (Join-Path $folder 'missing.env') -Value 'x' -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'KeyFileNotFound' 'ObjectNotFound'
        }

        It 'refuses to use a key file with <Problem> (<Category>)' -ForEach $damagedCases {
            $damagedFolder = New-TestFolder
            $damaged = Write-DamagedKeyFile -Path (Join-Path $damagedFolder '.env.crypto') -Problem $Problem
            $snapshot = Get-FileHashString $damagedFolder
            $err = { Protect-EncryptedValue -Path $damaged -Value 'x' -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err $Problem $Category
            Get-FileHashString $damagedFolder | Should -Be $snapshot
        }
    }
}
