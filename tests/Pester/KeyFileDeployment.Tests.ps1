BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:savedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'

    function Get-Owner([string] $Path) {
        <# uid:gid:mode as stat(1) prints it (not through the module). #>
        (& stat -c '%u:%g:%a' $Path).Trim()
    }
}

AfterAll {
    if ($script:savedEnvironment) { Restore-KeyEnvironment $script:savedEnvironment }
}

BeforeDiscovery {
    $script:notRootOnLinux = -not $IsLinux -or ((& id -u) -ne '0')
}

# FORMATS.md §1: a rewrite keeps the file the deployment's (owner, group, mode; a link stays a link and is written
# at its target); the lock, backups and journal never follow a link of their own.
Describe 'A key file that stays the deployment''s' {

    Context 'a key file that is a symbolic link (Kubernetes style)' -Skip:$IsWindows {
        BeforeAll {
            $folder = New-TestFolder
            $real = New-TestKeyFile -Folder $folder -Name 'real.env'
            $link = Join-Path $folder '.env.crypto'
            & ln -s 'real.env' $link
            $output = @(Invoke-KeyRotation -Path $link -PassThru -WarningAction SilentlyContinue)
        }

        It 'writes the new version into the final target' {
            (Get-EncryptionKey -Path $real).Version | Should -Contain 'v2'
            (Get-KeyFileValues $real)['ACTIVE_ENCRYPTION_VERSION'] | Should -Be 'v2'
        }

        It 'leaves the link a link, pointing where it did' {
            (Get-Item -LiteralPath $link -Force).LinkTarget | Should -Be 'real.env'
        }

        It 'makes the backup and the lock beside the target, none beside the link' {
            @(Get-BackupFiles $real).Count | Should -Be 1
            @(Get-BackupFiles $link).Count | Should -Be 0
            Test-Path -LiteralPath "$real.lock" | Should -BeTrue
            Test-Path -LiteralPath "$link.lock" | Should -BeFalse
            @(Get-ChildItem -LiteralPath $folder -Force | Where-Object Name -like '*.tmp-*').Count | Should -Be 0
        }

        It 'loses no version when rotations run at once through the link and through the real path' {
            $module = Get-SecretsPSModulePath
            $jobs = @($link, $real) | ForEach-Object {
                Start-ThreadJob -ArgumentList $_, $module -ScriptBlock {
                    param($path, $module)
                    Import-Module $module
                    1..4 | ForEach-Object { Invoke-KeyRotation -Path $path -Inactive -Force -ErrorAction Stop -WarningAction SilentlyContinue }
                }
            }
            $null = $jobs | Wait-Job -Timeout 60
            $jobs | Receive-Job -ErrorAction Stop
            $jobs | Remove-Job -Force
            (Get-EncryptionKey -Path $real).Count | Should -Be 10
            (Get-Item -LiteralPath $link -Force).LinkTarget | Should -Be 'real.env'
        }
    }

    Context 'a lock file that is a link' -Skip:$IsWindows {
        It 'is refused with KeyFileLinkRefused and nothing is written through it' {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            Remove-Item -LiteralPath "$path.lock" -Force -ErrorAction Ignore
            $elsewhere = Join-Path $folder 'elsewhere'
            & ln -s $elsewhere "$path.lock"
            $before = Get-FileHashString $path
            $err = Get-ErrorRecord { Invoke-KeyRotation -Path $path -ErrorAction Stop }
            Assert-SecretsPSError $err 'KeyFileLinkRefused' 'SecurityError'
            Test-Path -LiteralPath $elsewhere | Should -BeFalse
            Get-FileHashString $path | Should -Be $before
        }
    }

    Context 'owner, group and mode (as root on Linux)' -Skip:$notRootOnLinux {
        It 'a rotation by root keeps a nobody-owned 0600 file nobody''s, 0600' {
            $path = New-TestKeyFile
            & chown 65534:65534 $path
            & chmod 0600 $path
            $null = Invoke-KeyRotation -Path $path -WarningAction SilentlyContinue
            Get-Owner $path | Should -Be '65534:65534:600'
            (Get-EncryptionKey -Path $path).Version | Should -Contain 'v2'
        }

        It 'Set-ActiveEncryptionKey keeps a root:nogroup 0640 file root:nogroup 0640' {
            $path = New-TestKeyFile
            $null = Invoke-KeyRotation -Path $path -Inactive -WarningAction SilentlyContinue
            & chown 0:65534 $path
            & chmod 0640 $path
            Set-ActiveEncryptionKey -Path $path -Version v2 -WarningAction SilentlyContinue
            Get-Owner $path | Should -Be '0:65534:640'
            Get-Owner (Get-BackupFiles $path)[-1].FullName | Should -Be '0:0:600'
        }

        It 'a rotation through a link keeps the target''s owner and mode' {
            $folder = New-TestFolder
            $real = New-TestKeyFile -Folder $folder -Name 'real.env'
            & chown 65534:65534 $real
            & chmod 0640 $real
            $link = Join-Path $folder '.env.crypto'
            & ln -s 'real.env' $link
            $null = Invoke-KeyRotation -Path $link -WarningAction SilentlyContinue
            Get-Owner $real | Should -Be '65534:65534:640'
            (Get-Item -LiteralPath $link -Force).LinkTarget | Should -Be 'real.env'
        }
    }
}

Describe 'Set-ActiveEncryptionKey and a version only the environment defines' {
    BeforeAll {
        $path = New-TestKeyFile
        $text = New-KeyVersionText v9
        $names = @()
        foreach ($line in $text -split "`n" | Where-Object { $_ }) {
            $name, $value = $line -split '=', 2
            [Environment]::SetEnvironmentVariable($name, $value.Trim('"'))
            $names += $name
        }
        $before = Get-FileHashString (Split-Path -Parent $path)
    }

    AfterAll {
        foreach ($n in $names) { [Environment]::SetEnvironmentVariable($n, $null) }
    }

    It 'is refused with VersionFromEnvironment: the file could not load on its own' {
        $err = Get-ErrorRecord { Set-ActiveEncryptionKey -Path $path -Version v9 -Force -ErrorAction Stop }
        Assert-SecretsPSError $err 'VersionFromEnvironment' 'InvalidOperation'
        $err.Exception.Message | Should -Match 'ENCRYPTION_KEYS__v9'
        Get-FileHashString (Split-Path -Parent $path) | Should -Be $before
    }

    It 'is refused under -WhatIf too, before any prompt' {
        $err = Get-ErrorRecord { Set-ActiveEncryptionKey -Path $path -Version v9 -WhatIf -ErrorAction Stop }
        Assert-SecretsPSError $err 'VersionFromEnvironment'
        Get-FileHashString (Split-Path -Parent $path) | Should -Be $before
    }
}
