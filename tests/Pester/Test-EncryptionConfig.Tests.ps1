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

Describe 'Test-EncryptionConfig' {

    Context 'a valid key file written by the module' {
        BeforeAll {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $null = Invoke-KeyRotation -Path $path -Inactive
            $before = Get-FileHashString $folder
            $result = @(Test-EncryptionConfig -Path $path -WarningVariable warnings -ErrorVariable errs)
            $checks = @(Test-EncryptionConfig -Path $path -Detailed -WarningAction SilentlyContinue)
        }

        It 'returns a single $true, like Test-Path' {
            $result.Count | Should -Be 1
            $result[0] | Should -BeOfType [bool]
            $result[0] | Should -BeTrue
            $warnings.Count | Should -Be 0
            $errs.Count | Should -Be 0
        }

        It '-Detailed emits one ConfigCheck per check: file mode, parse, active, key material and self-test per version, version order, key age' {
            $checks | ForEach-Object { $_.GetType().FullName | Should -Be 'SecretsPS.Core.Config.ConfigCheck' }
            $names = $checks | ForEach-Object { if ($_.Version) { "$($_.Check)[$($_.Version)]" } else { $_.Check } }
            foreach ($n in 'FileRead', 'FileMode', 'Parse', 'ActivePresent[v1]', 'KeyMaterial[v1]', 'SelfTest[v1]', 'KeyMaterial[v2]', 'SelfTest[v2]', 'VersionOrder', 'KeyAge[v1]') {
                $names | Should -Contain $n
            }
        }

        It 'passes every check' {
            $checks | ForEach-Object { $_.Status.ToString() | Should -Be 'Passed' -Because "$($_.Check) $($_.Version): $($_.Message)" }
        }

        It 'reports FileMode passed for the 0600 file' {
            ($checks | Where-Object Check -EQ 'FileMode').Status.ToString() | Should -Be 'Passed'
        }

        It 'writes each check to the verbose stream' {
            $verbose = Test-EncryptionConfig -Path $path -Verbose 4>&1 | Where-Object { $_ -is [Management.Automation.VerboseRecord] }
            ($verbose.Message -join "`n") | Should -Match 'OK SelfTest \[v2\]'
        }

        It 'changes nothing on disk' {
            Get-FileHashString $folder | Should -Be $before
        }
    }

    Context 'a key file that its group or others can read' {
        It 'is valid but warns, and -Detailed reports FileMode as a Warning (KeyFileReadableByOthers) for mode <Mode>' -Skip:$IsWindows -ForEach @(
            @{ Mode = '644' }
            @{ Mode = '640' }
            @{ Mode = '604' }
            @{ Mode = '620' }
        ) {
            $path = New-TestKeyFile
            Set-TestFileMode -Path $path -Mode $Mode
            $hash = Get-FileHashString $path
            Test-EncryptionConfig -Path $path -WarningVariable w -WarningAction SilentlyContinue | Should -BeTrue
            ($w -join "`n") | Should -Match 'chmod 600'
            $check = Test-EncryptionConfig -Path $path -Detailed -WarningAction SilentlyContinue | Where-Object Check -EQ 'FileMode'
            $check.Status.ToString() | Should -Be 'Warning'
            $check.ErrorId | Should -Be 'KeyFileReadableByOthers'
            Get-FileHashString $path | Should -Be $hash
            Get-TestFileMode $path | Should -Be $Mode
        }
    }

    Context 'an old active key' {
        It 'warns when the active key is older than -MaxKeyAgeDays (ActiveKeyTooOld) and is still valid' {
            $old = [DateTime]::UtcNow.AddDays(-40).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [Globalization.CultureInfo]::InvariantCulture)
            $path = Write-TestKeyFile -Path (Join-Path (New-TestFolder) '.env.crypto') -Text (New-KeyFileText -Active v1 -Versions (New-KeyVersionText v1 -Created $old))
            Test-EncryptionConfig -Path $path -MaxKeyAgeDays 30 -WarningVariable w -WarningAction SilentlyContinue | Should -BeTrue
            ($w -join "`n") | Should -Match 'Invoke-KeyRotation'
            $age = Test-EncryptionConfig -Path $path -MaxKeyAgeDays 30 -Detailed -WarningAction SilentlyContinue | Where-Object Check -EQ 'KeyAge'
            $age.Status.ToString() | Should -Be 'Warning'
            $age.ErrorId | Should -Be 'ActiveKeyTooOld'
            (Test-EncryptionConfig -Path $path -MaxKeyAgeDays 60 -Detailed | Where-Object Check -EQ 'KeyAge').Status.ToString() | Should -Be 'Passed'
        }
    }

    Context 'ENCRYPTION_CREATED__ that disagrees with the order of the file' {
        It 'is valid but warns naming both versions, says the file order is used, and -Detailed reports VersionOrder as a Warning (CreatedDisagreesWithFileOrder)' {
            $path = Write-TestKeyFile -Path (Join-Path (New-TestFolder) '.env.crypto') -Text (New-KeyFileText -Active v2 -Versions @(
                    (New-KeyVersionText v1 -Created '2025-06-01T00:00:00Z')
                    (New-KeyVersionText v2 -Created '2025-01-01T00:00:00Z')))
            $hash = Get-FileHashString $path
            Test-EncryptionConfig -Path $path -WarningVariable w -WarningAction SilentlyContinue | Should -BeTrue
            $text = $w -join "`n"
            $text | Should -Match 'VersionOrder \[v2\]'
            $text | Should -Match 'ENCRYPTION_CREATED__v2 \(2025-01-01T00:00:00Z\) is earlier than ENCRYPTION_CREATED__v1'
            $text | Should -Match 'The file order is used: v1 is treated as older than v2'
            $check = @(Test-EncryptionConfig -Path $path -Detailed -WarningAction SilentlyContinue | Where-Object Check -EQ 'VersionOrder')
            $check.Count | Should -Be 1
            $check[0].Status.ToString() | Should -Be 'Warning'
            $check[0].Version | Should -Be 'v2'
            $check[0].ErrorId | Should -Be 'CreatedDisagreesWithFileOrder'
            (Get-EncryptionKey -Path $path).Version | Should -Be @('v1', 'v2')
            Get-FileHashString $path | Should -Be $hash
        }

        It 'does not warn about a file from the original CLI, without any ENCRYPTION_CREATED__' {
            $path = Write-TestKeyFile -Path (Join-Path (New-TestFolder) '.env.crypto') -Text (New-KeyFileText -Active v2 -Versions @(
                    (New-KeyVersionText v1 -NoCreated), (New-KeyVersionText v2 -NoCreated)))
            $check = Test-EncryptionConfig -Path $path -Detailed -WarningAction SilentlyContinue | Where-Object Check -EQ 'VersionOrder'
            $check.Status.ToString() | Should -Be 'Passed'
            $check.Message | Should -Match 'v1, v2'
        }
    }

    Context 'a damaged key file' {
        It 'returns $false for <Problem>, -Detailed names it as a Failed check, and the file is unchanged' -ForEach $damagedCases {
            $folder = New-TestFolder
            $path = Write-DamagedKeyFile -Path (Join-Path $folder '.env.crypto') -Problem $Problem
            $before = Get-FileHashString $folder
            $result = @(Test-EncryptionConfig -Path $path -WarningAction SilentlyContinue -ErrorVariable errs)
            $result.Count | Should -Be 1
            $result[0] | Should -BeFalse
            $errs.Count | Should -Be 0
            $failed = @(Test-EncryptionConfig -Path $path -Detailed -WarningAction SilentlyContinue | Where-Object { $_.Status.ToString() -eq 'Failed' })
            $failed.ErrorId | Should -Contain $Problem
            Get-FileHashString $folder | Should -Be $before
        }

        It 'reports every problem in one run, not just the first' {
            $text = New-KeyFileText -Active v1 -Versions (New-KeyVersionText v1 -Key (Get-RandomBytes 15)), (New-KeyVersionText v2 -SaltHash ('0' * 64)), (New-KeyVersionText v3 -Kdf 'scrypt')
            $path = Write-TestKeyFile -Path (Join-Path (New-TestFolder) '.env.crypto') -Text $text
            $failed = Test-EncryptionConfig -Path $path -Detailed -WarningAction SilentlyContinue | Where-Object { $_.Status.ToString() -eq 'Failed' }
            ($failed | ForEach-Object { "$($_.Version):$($_.ErrorId)" }) | Should -Be @('v1:KeyTooShort', 'v2:SaltIntegrityCheckFailed', 'v3:KdfUnknown')
        }
    }

    Context 'a missing key file' {
        It 'returns $false and -Detailed reports FileRead failed with KeyFileNotFound; nothing is created' {
            $folder = New-TestFolder
            $missing = Join-Path $folder 'missing.env'
            Test-EncryptionConfig -Path $missing | Should -BeFalse
            $checks = @(Test-EncryptionConfig -Path $missing -Detailed)
            $checks.Count | Should -Be 1
            $checks[0].Check | Should -Be 'FileRead'
            $checks[0].Status.ToString() | Should -Be 'Failed'
            $checks[0].ErrorId | Should -Be 'KeyFileNotFound'
            Get-FileHashString $folder | Should -BeExactly ''
        }
    }

    Context 'errors' {
        It 'writes EnvironmentNameInvalid (InvalidArgument) and returns $false for an -Environment that is a path' {
            $path = New-TestKeyFile
            $result = Test-EncryptionConfig -Path $path -Environment '../x' -ErrorVariable errs -ErrorAction SilentlyContinue
            $result | Should -BeFalse
            Assert-SecretsPSError $errs[0] 'EnvironmentNameInvalid' 'InvalidArgument'
        }
    }
}
