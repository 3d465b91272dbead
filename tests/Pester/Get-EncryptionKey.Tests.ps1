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

Describe 'Get-EncryptionKey' {

    Context 'a key file with three versions' {
        BeforeAll {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $null = Invoke-KeyRotation -Path $path -Inactive -NewVersion v2
            $null = Invoke-KeyRotation -Path $path -NewVersion v3 -WarningAction SilentlyContinue
            $before = Get-FileHashString $folder
            $list = @(Get-EncryptionKey -Path $path)
            $material = @(Get-KeyMaterial -Path $path)
        }

        It 'emits one KeyVersionInfo per version, oldest first' {
            $list.Count | Should -Be 3
            $list | ForEach-Object { $_.GetType().FullName | Should -Be 'SecretsPS.Core.Config.KeyVersionInfo' }
            $list.Version | Should -Be @('v1', 'v2', 'v3')
        }

        It 'marks only the active version IsActive' {
            ($list | Where-Object IsActive).Version | Should -Be 'v3'
            @($list | Where-Object IsActive).Count | Should -Be 1
        }

        It 'reports Created, Kdf, KeyLength, SaltLength, Source, SaltIntegrity and Path of each version' {
            foreach ($v in $list) {
                $v.Created | Should -BeOfType [DateTimeOffset]
                $v.Kdf | Should -Be 'hkdf-sha256'
                $v.KeyLength | Should -Be 32
                $v.SaltLength | Should -Be 16
                $v.Source.ToString() | Should -Be 'File'
                $v.SaltIntegrity | Should -Be 'Passed'
                $v.Path | Should -Be $path
            }
        }

        It 'has no property that could hold key material, and shows none in any format' {
            ($list[0].PSObject.Properties.Name | Sort-Object) | Should -Be (@('Created', 'IsActive', 'Kdf', 'KeyLength', 'Path', 'SaltIntegrity', 'SaltLength', 'Source', 'Version') | Sort-Object)
            $text = ($list | Format-List * | Out-String -Width 4096) + ($list | Format-Table | Out-String -Width 4096) + ($list | ConvertTo-Json)
            Find-SecretInText -Text $text -Secrets $material | Should -BeNullOrEmpty
        }

        It 'filters with -Version wildcards, ignoring case' {
            (Get-EncryptionKey -Path $path -Version 'V[12]').Version | Should -Be @('v1', 'v2')
            (Get-EncryptionKey -Path $path 'v3').Version | Should -Be 'v3'
            (Get-EncryptionKey -Path $path -Version 'v1', 'v3').Version | Should -Be @('v1', 'v3')
        }

        It 'writes a non-terminating KeyVersionNotFound for a -Version name that is not there, and still lists the others' {
            $found = @(Get-EncryptionKey -Path $path -Version 'v1', 'v9' -ErrorVariable errs -ErrorAction SilentlyContinue)
            $found.Version | Should -Be 'v1'
            $errs.Count | Should -Be 1
            Assert-SecretsPSError $errs[0] 'KeyVersionNotFound' 'ObjectNotFound'
            $errs[0].TargetObject | Should -Be 'v9'
        }

        It 'takes -Path from the pipeline by property name' {
            ([pscustomobject]@{ Path = $path } | Get-EncryptionKey).Count | Should -Be 3
        }

        It 'changes nothing on disk' {
            Get-FileHashString $folder | Should -Be $before
        }
    }

    Context 'the order of versions (FORMATS.md §1: the order they first appear in the file)' {
        It 'lists a version added by hand without ENCRYPTION_CREATED__ after the one New-EncryptionConfig wrote, as the newer' {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            [IO.File]::AppendAllText($path, "`n" + (New-KeyVersionText v2 -NoCreated))
            $null = Set-ActiveEncryptionKey -Path $path -Version v2 -Confirm:$false -WarningAction SilentlyContinue
            $list = @(Get-EncryptionKey -Path $path)
            $list.Version | Should -Be @('v1', 'v2')
            $list[0].Created | Should -BeOfType [DateTimeOffset]
            $list[1].Created | Should -BeNullOrEmpty
        }

        It 'lists in file order when ENCRYPTION_CREATED__ says otherwise' {
            $path = Write-TestKeyFile -Path (Join-Path (New-TestFolder) '.env.crypto') -Text (New-KeyFileText -Active vC -Versions @(
                    (New-KeyVersionText vB -Created '2024-06-01T00:00:00Z')
                    (New-KeyVersionText vA -Created '2023-01-01T00:00:00Z')
                    (New-KeyVersionText vC -Created '2025-01-01T00:00:00Z')))
            (Get-EncryptionKey -Path $path).Version | Should -Be @('vB', 'vA', 'vC')
        }

        It 'lists versions only in the environment after the file''s, in natural name order (v9 before v10)' {
            $path = New-TestKeyFile
            $names = @()
            try {
                foreach ($v in 'v10', 'v9') {
                    foreach ($line in (New-KeyVersionText $v -Created '2020-01-01T00:00:00Z') -split "`n" | Where-Object { $_ }) {
                        $name, $value = $line -split '=', 2
                        Set-Item -LiteralPath "Env:$name" -Value $value.Trim('"')
                        $names += $name
                    }
                }
                $list = @(Get-EncryptionKey -Path $path)
                $list.Version | Should -Be @('v1', 'v9', 'v10')
                $list[1].Source.ToString() | Should -Be 'Environment'
            }
            finally {
                foreach ($n in $names) { Remove-Item -LiteralPath "Env:$n" -ErrorAction Ignore }
            }
        }
    }

    Context 'key file resolution' {
        It 'reads ./.env.crypto when -Path is omitted' {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            Push-Location $folder
            try { $v = Get-EncryptionKey } finally { Pop-Location }
            $v.Path | Should -Be $path
        }
    }

    Context 'a damaged key file' {
        It 'lists what it can and warns with the ErrorId for <Problem>, without changing the file' -ForEach $damagedCases {
            $folder = New-TestFolder
            $path = Write-DamagedKeyFile -Path (Join-Path $folder '.env.crypto') -Problem $Problem
            $before = Get-FileHashString $folder
            $list = @(Get-EncryptionKey -Path $path -WarningVariable warnings -WarningAction SilentlyContinue -ErrorVariable errs -ErrorAction SilentlyContinue)
            $errs.Count | Should -Be 0
            @($warnings | Where-Object { $_.Message -like "$($Problem):*" }).Count | Should -BeGreaterThan 0
            $list.Version | Should -Contain 'v1'
            if ($VersionLevel) {
                ($list | Where-Object Version -EQ 'v1').SaltIntegrity | Should -Be "Failed: $Problem"
            }
            Get-FileHashString $folder | Should -Be $before
        }

        It 'shows a damaged inactive version beside the good one' {
            $folder = New-TestFolder
            $path = Write-TestKeyFile -Path (Join-Path $folder '.env.crypto') -Text (New-KeyFileText -Active v1 -Versions (New-KeyVersionText v1), (New-KeyVersionText v2 -SaltHash ('0' * 64)))
            $list = @(Get-EncryptionKey -Path $path -WarningAction SilentlyContinue)
            ($list | Where-Object Version -EQ 'v1').SaltIntegrity | Should -Be 'Passed'
            ($list | Where-Object Version -EQ 'v2').SaltIntegrity | Should -Be 'Failed: SaltIntegrityCheckFailed'
        }
    }

    Context 'errors' {
        It 'fails with KeyFileNotFound (ObjectNotFound) for a missing file and creates nothing' {
            $folder = New-TestFolder
            $err = { Get-EncryptionKey -Path (Join-Path $folder 'missing.env') -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'KeyFileNotFound' 'ObjectNotFound'
            Get-FileHashString $folder | Should -BeExactly ''
        }

        It 'fails with KeyFileNotFound naming both default places when there is no key file in the folder' {
            $folder = New-TestFolder
            Push-Location $folder
            try { $err = { Get-EncryptionKey -ErrorAction Stop } | Should -Throw -PassThru }
            finally { Pop-Location }
            Assert-SecretsPSError $err 'KeyFileNotFound' 'ObjectNotFound'
            $err.Exception.Message | Should -BeLike '*.env.crypto*instance*'
        }

        It 'fails with EnvironmentNameInvalid for an -Environment that is a path' {
            $path = New-TestKeyFile
            $hash = Get-FileHashString $path
            $err = { Get-EncryptionKey -Path $path -Environment '../other' -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'EnvironmentNameInvalid' 'InvalidArgument'
            Get-FileHashString $path | Should -Be $hash
        }
    }
}
