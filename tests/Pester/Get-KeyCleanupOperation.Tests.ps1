#Requires -Version 7.4
<#
    Get-KeyCleanupOperation (the original Flask CLI's cleanup-stats): reads the key file's audit journal (<key file>.audit.jsonl,
    mode 0600) back, by -OperationId (wildcards) and -Last N, as operation objects with their counts and steps.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'
    $script:SavedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $script:Pg = $null # SQLite is enough here
    . (Join-Path $PSScriptRoot 'CleanupFixtures.ps1')
    $script:OperationIdPattern = '^cleanup_\d{8}_\d{6}_[0-9a-f]{4}$'

    function New-KeyFileWithVersions {
        param([string] $Folder, [string[]] $Versions)
        $key = New-TestKeyFile -Folder $Folder -Version $Versions[0]
        foreach ($v in @($Versions | Select-Object -Skip 1)) { $null = Invoke-KeyRotation -Path $key -NewVersion $v -Force -WarningAction SilentlyContinue }
        $key
    }
}

AfterAll {
    Restore-KeyEnvironment $script:SavedEnvironment
}

Describe 'Get-KeyCleanupOperation' {
    BeforeAll {
        # Four operations on one key file v1..v5: removed v1; nothing to remove; rolled back; removed v2 and v3.
        $folder = New-TestFolder
        $key = New-KeyFileWithVersions -Folder $folder -Versions 'v1', 'v2', 'v3', 'v4', 'v5'
        $db = New-CleanupDatabase -Provider Sqlite -Folder $folder
        $plain = @('otp-1-ção-secret', 'otp-2-ção-secret')
        New-CleanupTable -Database $db -Table t -Values @($plain | Protect-EncryptedValue -Path $key -Version v2)
        $ops = @(
            Remove-UnusedEncryptionKey -Path $key -Keep 4 -SkipUsageCheck -Force -WarningAction SilentlyContinue
            Remove-UnusedEncryptionKey -Path $key -Keep 1 -WarningAction SilentlyContinue
            # t uses v2 and the usage check is skipped: the sample decryption fails and the change is rolled back.
            Remove-UnusedEncryptionKey -Path $key -Keep 3 -Table t -Column otp -ConnectionString $db.ConnectionString -SkipUsageCheck -Force -WarningAction SilentlyContinue -ErrorAction SilentlyContinue
            Remove-UnusedEncryptionKey -Path $key -Keep 2 -SkipUsageCheck -Force -WarningAction SilentlyContinue
        )
    }

    Context 'what the journal holds' {
        It 'has one line per operation, mode 600, beside the key file' {
            $journal = "$key.audit.jsonl"
            Test-Path -LiteralPath $journal | Should -BeTrue
            Get-TestFileMode -Path $journal | Should -Be '600'
            @(Get-Content -LiteralPath $journal).Count | Should -Be $ops.Count
        }

        It 'returns every operation, oldest first, without -OperationId' {
            $all = @(Get-KeyCleanupOperation -Path $key)
            $all.OperationId | Should -Be $ops.OperationId
            $all | ForEach-Object { $_.OperationId | Should -Match $script:OperationIdPattern }
            $all[0].GetType().FullName | Should -Be 'SecretsPS.Core.Audit.KeyCleanupOperation'
        }
    }

    Context '-OperationId' {
        It 'returns the operation with that id, with its counts, versions, backup and steps' {
            $op = Get-KeyCleanupOperation -Path $key -OperationId $ops[0].OperationId
            @($op).Count | Should -Be 1
            $op.Outcome.ToString() | Should -Be 'Succeeded'
            @($op.Removed) | Should -Be @('v1')
            $op.RemovedCount | Should -Be 1
            $op.KeptCount | Should -Be $ops[0].KeptCount
            $op.Keep | Should -Be 4
            $op.KeyFile | Should -Be $key
            $op.BackupPath | Should -Be $ops[0].BackupPath
            $op.Steps.Step | Should -Be $ops[0].Steps.Step
            $op.Steps.Message | Should -Be $ops[0].Steps.Message
            $op.StartedAt | Should -Be $ops[0].StartedAt
        }

        It 'returns a rolled-back operation with its Rollback step and the target counts' {
            $op = Get-KeyCleanupOperation -Path $key -OperationId $ops[2].OperationId
            $op.Outcome.ToString() | Should -Be 'RolledBack'
            @($op.Removed).Count | Should -Be 0
            $op.Steps[-1].Step | Should -Be 'Rollback'
            $op.Message | Should -Match 'SampleDecryptFailed'
        }

        It 'takes wildcards' {
            @(Get-KeyCleanupOperation -Path $key -OperationId 'cleanup_*').Count | Should -Be $ops.Count
            $suffix = $ops[1].OperationId.Substring($ops[1].OperationId.Length - 4)
            (Get-KeyCleanupOperation -Path $key -OperationId "*_$suffix").OperationId | Should -Contain $ops[1].OperationId
            @(Get-KeyCleanupOperation -Path $key -OperationId 'nothing_like_this*').Count | Should -Be 0
        }

        It 'is case-insensitive' {
            (Get-KeyCleanupOperation -Path $key -OperationId $ops[1].OperationId.ToUpperInvariant()).OperationId | Should -Be $ops[1].OperationId
        }

        It 'takes several ids and pipeline input by property name' {
            @(Get-KeyCleanupOperation -Path $key -OperationId $ops[0].OperationId, $ops[3].OperationId).OperationId | Should -Be @($ops[0].OperationId, $ops[3].OperationId)
            ($ops[1] | Get-KeyCleanupOperation -Path $key).OperationId | Should -Be $ops[1].OperationId
        }

        It 'reports an unknown id as a non-terminating OperationNotFound error and still returns the others' {
            $found = @(Get-KeyCleanupOperation -Path $key -OperationId 'cleanup_19990101_000000_dead', $ops[0].OperationId -ErrorVariable notFound -ErrorAction SilentlyContinue)
            $found.OperationId | Should -Be @($ops[0].OperationId)
            $notFound.Count | Should -Be 1
            Assert-SecretsPSError $notFound[0] 'OperationNotFound' 'ObjectNotFound'
            $notFound[0].TargetObject | Should -Be 'cleanup_19990101_000000_dead'
        }
    }

    Context '-Last' {
        It 'returns the newest N, oldest first' {
            (Get-KeyCleanupOperation -Path $key -Last 1).OperationId | Should -Be $ops[-1].OperationId
            @(Get-KeyCleanupOperation -Path $key -Last 2).OperationId | Should -Be @($ops[-2].OperationId, $ops[-1].OperationId)
            @(Get-KeyCleanupOperation -Path $key -Last 100).Count | Should -Be $ops.Count
        }

        It 'applies after -OperationId' {
            (Get-KeyCleanupOperation -Path $key -OperationId $ops[0].OperationId, $ops[1].OperationId -Last 1 -ErrorAction SilentlyContinue).OperationId | Should -Be $ops[1].OperationId
        }

        It 'does not report an id that is in the journal as not found when -Last leaves it out' {
            $null = Get-KeyCleanupOperation -Path $key -OperationId $ops[0].OperationId, $ops[1].OperationId -Last 1 -ErrorVariable e -ErrorAction SilentlyContinue
            $e | Should -BeNullOrEmpty -Because "'$($ops[0].OperationId)' is in the journal: OperationNotFound would be false"
        }
    }

    Context 'an unusual journal' {
        It 'returns nothing, without an error, for a key file that has had no cleanup' {
            $other = New-TestKeyFile
            @(Get-KeyCleanupOperation -Path $other -ErrorVariable e).Count | Should -Be 0
            $e.Count | Should -Be 0
        }

        It 'warns about a damaged line and returns the others' {
            $copyFolder = New-TestFolder
            $copy = New-TestKeyFile -Folder $copyFolder
            $lines = @(Get-Content -LiteralPath "$key.audit.jsonl")
            [IO.File]::WriteAllText("$copy.audit.jsonl", ($lines[0] + "`n" + '{"operationId": "cleanup_broken' + "`n" + $lines[1] + "`n"), [Text.UTF8Encoding]::new($false))
            $read = @(Get-KeyCleanupOperation -Path $copy -WarningVariable w -WarningAction SilentlyContinue)
            $read.OperationId | Should -Be @($ops[0].OperationId, $ops[1].OperationId)
            "$w" | Should -Match '1 line\(s\) of .+\.audit\.jsonl''? could not be read'
        }
    }

    Context 'secrets' {
        It 'neither the journal nor what it returns holds key material or a plaintext' {
            Assert-NoKeyMaterial -Text (Get-Content -Raw -LiteralPath "$key.audit.jsonl") -KeyFile $key -Plaintexts $plain -Where 'the journal'
            Assert-NoKeyMaterial -Text (ConvertTo-StreamText @(Get-KeyCleanupOperation -Path $key -Verbose *>&1)) -KeyFile $key -Plaintexts $plain -Where 'the output'
        }
    }
}
