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

Describe 'Unprotect-EncryptedValue' {

    Context 'decrypting stored values' {
        BeforeAll {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $v1Value = Protect-EncryptedValue -Path $path -Value 'secret one'
            $null = Invoke-KeyRotation -Path $path -NewVersion v2 -WarningAction SilentlyContinue
            $v2Value = Protect-EncryptedValue -Path $path -Value 'secret two'
            $before = Get-FileHashString $folder
        }

        It 'returns the plaintext as a string' {
            $r = Unprotect-EncryptedValue -Path $path -Value $v2Value
            $r | Should -BeOfType [string]
            $r | Should -BeExactly 'secret two'
        }

        It 'decrypts a value of an older, inactive version with that version' {
            Unprotect-EncryptedValue -Path $path -Value $v1Value | Should -BeExactly 'secret one'
        }

        It 'accepts the value without its = padding' {
            $v2Value.TrimEnd('=') | Should -Not -Be $v2Value
            Unprotect-EncryptedValue -Path $path -Value $v2Value.TrimEnd('=') | Should -BeExactly 'secret two'
        }

        It '-AsSecureString returns a SecureString holding the plaintext' {
            $s = Unprotect-EncryptedValue -Path $path -Value $v1Value -AsSecureString
            $s | Should -BeOfType [securestring]
            [Net.NetworkCredential]::new('', $s).Password | Should -BeExactly 'secret one'
        }

        It 'takes values from the pipeline' {
            $v1Value, $v2Value | Unprotect-EncryptedValue -Path $path | Should -Be @('secret one', 'secret two')
        }

        It 'changes nothing on disk' {
            Get-FileHashString $folder | Should -Be $before
        }
    }

    Context 'errors' {
        BeforeAll {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $value = Protect-EncryptedValue -Path $path -Value 'the plaintext'
            $parts = Split-StoredValue $value
            $other = New-TestKeyFile
            $otherValue = Protect-EncryptedValue -Path $other -Value 'the plaintext'
            $before = Get-FileHashString $folder
            function Get-Tampered([int] $Offset) {
                $bytes = [byte[]]$parts.TokenBytes.Clone()
                if ($Offset -lt 0) { $Offset = $bytes.Length + $Offset }
                $bytes[$Offset] = $bytes[$Offset] -bxor 0x01
                Join-StoredValue -Version $parts.Version -TokenBytes $bytes
            }
        }

        AfterEach {
            Get-FileHashString $folder | Should -Be $before
        }

        It 'refuses a value of a version the file does not have (ValueVersionUnknown, ObjectNotFound)' {
            $unknown = 'v9:' + $value.Substring(3)
            $err = { Unprotect-EncryptedValue -Path $path -Value $unknown -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'ValueVersionUnknown' 'ObjectNotFound'
            $err.Exception.Message | Should -Match "'v9'"
        }

        It 'refuses a token altered in its <Part> (TokenSignatureInvalid, InvalidData)' -ForEach @(
            @{ Part = 'timestamp'; Offset = 8 }
            @{ Part = 'IV'; Offset = 12 }
            @{ Part = 'ciphertext'; Offset = 30 }
            @{ Part = 'HMAC'; Offset = -1 }
        ) {
            $err = { Unprotect-EncryptedValue -Path $path -Value (Get-Tampered $Offset) -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'TokenSignatureInvalid' 'InvalidData'
        }

        It 'refuses a token cut short (a Token* error, InvalidData)' {
            $short = Join-StoredValue -Version 'v1' -TokenBytes ([byte[]]$parts.TokenBytes[0..($parts.TokenBytes.Length - 17)])
            $err = { Unprotect-EncryptedValue -Path $path -Value $short -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Match '^Token[A-Za-z]+,'
            $err.CategoryInfo.Category.ToString() | Should -Be 'InvalidData'
        }

        It 'refuses a token made with another key under the same version name (TokenSignatureInvalid, InvalidData)' {
            $err = { Unprotect-EncryptedValue -Path $path -Value $otherValue -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'TokenSignatureInvalid' 'InvalidData'
        }

        It 'refuses <Name> (ValueEmpty, InvalidArgument)' -ForEach @(
            @{ Name = 'an empty string'; Value = '' }
            @{ Name = '$null'; Value = $null }
            @{ Name = 'spaces only'; Value = '   ' }
            @{ Name = 'tabs and line ends only'; Value = "`t`r`n" }
        ) {
            $err = { Unprotect-EncryptedValue -Path $path -Value $Value -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'ValueEmpty' 'InvalidArgument'
        }

        It 'refuses plaintext (StoredValueMalformed, InvalidData) without repeating it' {
            $err = { Unprotect-EncryptedValue -Path $path -Value 'my plain password' -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'StoredValueMalformed' 'InvalidData'
            ($err | Out-String) + $err.Exception.ToString() | Should -Not -Match 'my plain password'
        }

        It 'writes a non-terminating error for a bad item in the pipeline and decrypts the others' {
            $out = @($value, 'v9:abc', $value | Unprotect-EncryptedValue -Path $path -ErrorVariable errs -ErrorAction SilentlyContinue)
            $out | Should -Be @('the plaintext', 'the plaintext')
            $errs.Count | Should -Be 1
        }

        It 'fails with KeyFileNotFound (ObjectNotFound) for a missing file' {
            $err = { Unprotect-EncryptedValue -Path (Join-Path $folder 'missing.env') -Value $value -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'KeyFileNotFound' 'ObjectNotFound'
        }

        It 'refuses to use a key file with <Problem> (<Category>)' -ForEach $damagedCases {
            $damagedFolder = New-TestFolder
            $damaged = Write-DamagedKeyFile -Path (Join-Path $damagedFolder '.env.crypto') -Problem $Problem
            $snapshot = Get-FileHashString $damagedFolder
            $err = { Unprotect-EncryptedValue -Path $damaged -Value $value -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err $Problem $Category
            Get-FileHashString $damagedFolder | Should -Be $snapshot
        }
    }
}
