#Requires -Version 7.4
<#
    Issue #5, presentation: the default views of SecretsPS.Format.ps1xml, rendered from the objects the cmdlets really
    emit (key versions, config checks, re-encryption jobs, column status, cleanup operations), and tab completion of
    -Version (from the key file the command would use), -Kdf, -Provider, -Status and -OperationId (from the journal a
    real Remove-UnusedEncryptionKey wrote). Views are read back as text, column by column, so a header, an order or
    a cell that changes fails here.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'
    $script:SavedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $script:SavedConnection = $env:SECRETSPS_CONNECTION_STRING
    Remove-Item Env:SECRETSPS_CONNECTION_STRING -ErrorAction Ignore
    $script:DbFolder = New-TestDatabaseFolder

    function ConvertFrom-TableText {
        <#
            A rendered table as { Headers; Rows (ordered label -> cell) }. The dash line only underlines each label, so
            a cell is found from its label's place: a right-aligned cell (as the type's view aligns it) is the run of
            text ending where its label ends, a left-aligned one runs from where its label starts to the next cell
            (so a date and time, or a message, comes back whole).
        #>
        param([string] $Text, [string] $TypeName)
        $right = @(@((Get-FormatData -TypeName $TypeName).FormatViewDefinition)[0].Control.Headers |
                Where-Object { "$($_.Alignment)" -eq 'Right' } | ForEach-Object Label)
        $lines = @($Text -split '\r?\n' | Where-Object { $_.Trim() })
        $dash = -1
        for ($i = 0; $i -lt $lines.Count; $i++) { if ($lines[$i] -match '^[\s-]+$') { $dash = $i; break } }
        if ($dash -lt 1) { throw "No table header in:`n$Text" }
        $segments = @([regex]::Matches($lines[$dash], '-+'))
        $width = ($lines | Measure-Object -Property Length -Maximum).Maximum
        $headers = @(foreach ($s in $segments) { $lines[$dash - 1].PadRight($width).Substring($s.Index, $s.Length).Trim() })
        $rows = foreach ($line in @($lines | Select-Object -Skip ($dash + 1))) {
            $padded = $line.PadRight($width)
            $starts = [int[]]::new($segments.Count)
            $cells = [string[]]::new($segments.Count)
            for ($c = 0; $c -lt $segments.Count; $c++) {
                $starts[$c] = $segments[$c].Index
                if ($headers[$c] -in $right) {
                    $end = $segments[$c].Index + $segments[$c].Length
                    $from = $end
                    while ($from -gt 0 -and $padded[$from - 1] -ne ' ') { $from-- }
                    $starts[$c] = $from
                    $cells[$c] = $padded.Substring($from, $end - $from)
                }
            }
            for ($c = 0; $c -lt $segments.Count; $c++) {
                if ($headers[$c] -in $right) { continue }
                $stop = if ($c -eq $segments.Count - 1) { $width } else { $starts[$c + 1] }
                $cells[$c] = $padded.Substring($starts[$c], $stop - $starts[$c]).Trim()
            }
            $row = [ordered]@{}
            for ($c = 0; $c -lt $headers.Count; $c++) { $row[$headers[$c]] = $cells[$c] }
            [pscustomobject]$row
        }
        [pscustomobject]@{ Headers = $headers; Rows = @($rows) }
    }

    function ConvertFrom-ListText {
        # A rendered list of ONE object as { Label; Value } in order; a value's continuation lines are joined with "`n".
        param([string] $Text)
        $entries = [Collections.Generic.List[object]]::new()
        foreach ($line in $Text -split '\r?\n') {
            if ($line -match '^(\S[^:]*?)\s*: ?(.*)$') { $entries.Add([pscustomobject]@{ Label = $Matches[1]; Value = $Matches[2].TrimEnd() }) }
            elseif ($line.Trim() -and $entries.Count) { $entries[$entries.Count - 1].Value += "`n" + $line.Trim() }
        }
        , $entries.ToArray()
    }

    function Get-ViewLabels {
        # The labels of the type's first (default) view: table headers or list items, and the control's kind.
        param([string] $TypeName)
        $view = @((Get-FormatData -TypeName $TypeName).FormatViewDefinition)[0]
        $control = $view.Control
        $labels = if ($control -is [Management.Automation.TableControl]) {
            $control.Headers.Label
        } else {
            foreach ($item in $control.Entries[0].Items) { if ($item.Label) { $item.Label } else { $item.DisplayEntry.Value } }
        }
        [pscustomobject]@{ Kind = $control.GetType().Name; Labels = @($labels) }
    }

    function Get-Completion {
        # What Tab offers at the end of the line: the CompletionResults (none, not $null, when there is nothing).
        param([string] $InputScript)
        , @((TabExpansion2 -inputScript $InputScript -cursorColumn $InputScript.Length).CompletionMatches)
    }

    function ConvertTo-Quoted([string] $Text) { "'" + $Text.Replace("'", "''") + "'" }

    function New-KeyFileWithVersions {
        param([string] $Folder, [string[]] $Versions, [string] $Name = '.env.crypto')
        $key = New-TestKeyFile -Folder $Folder -Name $Name -Version $Versions[0]
        foreach ($v in @($Versions | Select-Object -Skip 1)) { $null = Invoke-KeyRotation -Path $key -NewVersion $v -Force -WarningAction SilentlyContinue }
        $key
    }
}

AfterAll {
    Remove-TestDatabaseFolder $script:DbFolder
    Restore-KeyEnvironment $script:SavedEnvironment
    $env:SECRETSPS_CONNECTION_STRING = $script:SavedConnection
}

Describe 'Default views' {
    Context 'key versions (Get-EncryptionKey)' {
        BeforeAll {
            # v1, v2 (active, not the newest: the mark must follow IsActive, not the order), v3 with another KDF.
            $key = New-KeyFileWithVersions -Folder (New-TestFolder) -Versions 'v1', 'v2'
            $null = Invoke-KeyRotation -Path $key -NewVersion v3 -Kdf raw -Force -WarningAction SilentlyContinue
            $null = Set-ActiveEncryptionKey -Path $key -Version v2 -Confirm:$false -WarningAction SilentlyContinue
            $versions = @(Get-EncryptionKey -Path $key)
            $table = ConvertFrom-TableText ($versions | Out-String -Width 200) $versions[0].PSObject.TypeNames[0]
        }

        It 'is the table view registered for the type Get-EncryptionKey emits' {
            $versions.Count | Should -Be 3
            $versions[0].PSObject.TypeNames[0] | Should -Be 'SecretsPS.Core.Config.KeyVersionInfo'
            $view = Get-ViewLabels $versions[0].PSObject.TypeNames[0]
            $view.Kind | Should -Be 'TableControl'
            $view.Labels | Should -Be $table.Headers
        }

        It 'shows Version, Active, Created, Kdf, Source in that order, and the same as Format-Table' {
            $table.Headers[0..4] | Should -Be @('Version', 'Active', 'Created', 'Kdf', 'Source')
            (ConvertFrom-TableText ($versions | Format-Table | Out-String -Width 200) $versions[0].PSObject.TypeNames[0]).Headers | Should -Be $table.Headers
        }

        It 'shows one row per version with its name, kdf and source, and marks only the active one' {
            $table.Rows.Version | Should -Be @('v1', 'v2', 'v3')
            $table.Rows.Active | Should -Be @('', '*', '')
            $table.Rows.Kdf | Should -Be @('hkdf-sha256', 'hkdf-sha256', 'raw')
            $table.Rows.Source | Should -Be @('File', 'File', 'File')
        }

        It 'shows Created in UTC, to the second, with a Z' {
            for ($i = 0; $i -lt 3; $i++) {
                $table.Rows[$i].Created | Should -Match '^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$'
                $table.Rows[$i].Created | Should -Be ($versions[$i].Created.UtcDateTime.ToString('yyyy-MM-dd HH:mm:ss') + 'Z')
            }
        }
    }

    Context 'config checks (Test-EncryptionConfig -Detailed)' {
        BeforeAll {
            $good = @(Test-EncryptionConfig -Path (New-TestKeyFile -Folder (New-TestFolder)) -Detailed)
            $damagedPath = Join-Path (New-TestFolder) '.env.crypto'
            Write-DamagedKeyFile -Path $damagedPath -Problem SaltIntegrityCheckFailed
            $damaged = @(Test-EncryptionConfig -Path $damagedPath -Detailed -WarningAction SilentlyContinue -ErrorAction SilentlyContinue)
        }

        It 'is the table view registered for the type Test-EncryptionConfig emits, with Status, Check, Version, Message' {
            $good[0].PSObject.TypeNames[0] | Should -Be 'SecretsPS.Core.Config.ConfigCheck'
            $view = Get-ViewLabels $good[0].PSObject.TypeNames[0]
            $view.Kind | Should -Be 'TableControl'
            $view.Labels | Should -Be @('Status', 'Check', 'Version', 'Message')
            (ConvertFrom-TableText ($good | Out-String -Width 400) $good[0].PSObject.TypeNames[0]).Headers | Should -Be @('Status', 'Check', 'Version', 'Message')
        }

        It 'shows each check of a sound key file as a row with its status, name, version and message' {
            $rows = (ConvertFrom-TableText ($good | Out-String -Width 400) $good[0].PSObject.TypeNames[0]).Rows
            $rows.Count | Should -Be $good.Count
            $rows.Status | Should -Be @($good.Status | ForEach-Object ToString)
            $rows.Check | Should -Be $good.Check
            $rows.Version | Should -Be @($good | ForEach-Object { [string]$_.Version })
            $rows.Message | Should -Be $good.Message
            $rows.Status | Should -Not -Contain 'Failed'
            $rows.Version | Should -Contain 'v1'
        }

        It 'shows the failed check of a damaged version as Failed, with that version' {
            $rows = (ConvertFrom-TableText ($damaged | Out-String -Width 400) $damaged[0].PSObject.TypeNames[0]).Rows
            $failed = @($rows | Where-Object Status -EQ 'Failed')
            $failed.Count | Should -BeGreaterThan 0
            $failed.Version | Should -Contain 'v1'
            $failed.Message | Should -Be @($damaged | Where-Object { $_.Status.ToString() -eq 'Failed' } | ForEach-Object Message)
        }
    }

    Context 're-encryption jobs, column status (SQLite)' {
        BeforeAll {
            $key = New-TestRotatedKeyFile -Folder (Join-Path $DbFolder 'views')
            $db = New-TestDatabase -Provider Sqlite -Folder $DbFolder
            $run = @{ Path = $key; Provider = 'Sqlite'; ConnectionString = $db.ConnectionString }
            New-TestSecretTable -Database $db -Table t_big -Values (New-TestStoredValue (New-TestPlaintext 3000 'big') $key)
            # t_mix: 3 rows at v1, 1 already at v2 (skipped), 1 value naming v1 that does not decrypt (an error), 1 NULL, 1 plaintext (an error).
            $mixValues = (New-TestStoredValue (New-TestPlaintext 3 'mix') $key) + (New-TestStoredValue @('at-v2') $key -Version v2) +
                @('v1:bm90LWEtdG9rZW4', $null, 'plain text')
            New-TestSecretTable -Database $db -Table t_mix -Values $mixValues
            New-TestSecretTable -Database $db -Table t_part -Values (New-TestStoredValue (New-TestPlaintext 5 'part') $key)
            $started = @(
                Start-Reencryption -Table t_big -Column otp @run
                Start-Reencryption -Table t_mix -Column otp @run -WarningAction SilentlyContinue -ErrorAction SilentlyContinue
                Start-Reencryption -Table t_part -Column otp @run -MaxRows 2 -WarningAction SilentlyContinue
            )
            $jobs = @(Get-ReencryptJob -Provider Sqlite -ConnectionString $db.ConnectionString)
            $jobTable = ConvertFrom-TableText ($jobs | Out-String -Width 200) $jobs[0].PSObject.TypeNames[0]
            $statuses = @('t_big', 't_mix', 't_part' | ForEach-Object { Get-EncryptedColumnStatus -Table $_ -Column otp @run -WarningAction SilentlyContinue })
            $statusTable = ConvertFrom-TableText ($statuses | Out-String -Width 200) $statuses[0].PSObject.TypeNames[0]
        }

        It 'is the table view registered for the job type Get-ReencryptJob and Start-Reencryption emit' {
            $jobs.Count | Should -Be 3
            $jobs[0].PSObject.TypeNames[0] | Should -Be 'SecretsPS.Core.Reencryption.ReencryptJob'
            $started[0].PSObject.TypeNames[0] | Should -Be $jobs[0].PSObject.TypeNames[0]
            $view = Get-ViewLabels $jobs[0].PSObject.TypeNames[0]
            $view.Kind | Should -Be 'TableControl'
            $view.Labels | Should -Be $jobTable.Headers
        }

        It 'shows Id, Target, Status, Processed/Total, Skipped, Errors, Updated in that order (Version beside Target)' {
            $jobTable.Headers | Should -Be @('Id', 'Target', 'Version', 'Status', 'Processed/Total', 'Skipped', 'Errors', 'Updated')
            (ConvertFrom-TableText ($started | Out-String -Width 200) $started[0].PSObject.TypeNames[0]).Headers | Should -Be $jobTable.Headers
        }

        It 'shows a finished job of 3000 rows as 3000/3000, with its id, target, version and lower-case status' {
            $row = $jobTable.Rows | Where-Object Target -EQ 't_big.otp'
            $row.Id | Should -Be ([string]$started[0].Id)
            $row.Version | Should -Be 'v2'
            $row.Status | Should -BeExactly 'finished'
            $row.'Processed/Total' | Should -Be '3000/3000'
            $row.Skipped | Should -Be '0'
            $row.Errors | Should -Be '0'
        }

        It 'counts skipped and failed rows in Processed/Total and shows them in their own columns' {
            $job = $jobs | Where-Object Table -EQ 't_mix'
            $job.Skipped | Should -Be 1
            $job.Errors | Should -Be 2
            $row = $jobTable.Rows | Where-Object Target -EQ 't_mix.otp'
            $row.'Processed/Total' | Should -Be '6/6'
            $row.Skipped | Should -Be '1'
            $row.Errors | Should -Be '2'
        }

        It 'shows a job stopped by -MaxRows as paused with 2/5' {
            $row = $jobTable.Rows | Where-Object Target -EQ 't_part.otp'
            $row.Status | Should -BeExactly 'paused'
            $row.'Processed/Total' | Should -Be '2/5'
        }

        It 'lists the jobs newest first, each Updated as the job''s UpdatedAt in UTC with a Z' {
            $jobTable.Rows.Id | Should -Be @($jobs.Id | ForEach-Object { [string]$_ })
            for ($i = 0; $i -lt $jobs.Count; $i++) {
                $jobTable.Rows[$i].Updated | Should -Be ($jobs[$i].UpdatedAt.ToString('yyyy-MM-dd HH:mm:ss') + 'Z')
            }
        }

        It 'is the table view registered for the type Get-EncryptedColumnStatus emits' {
            $statuses[0].PSObject.TypeNames[0] | Should -Be 'SecretsPS.Core.Data.EncryptedColumnStatus'
            $view = Get-ViewLabels $statuses[0].PSObject.TypeNames[0]
            $view.Kind | Should -Be 'TableControl'
            $view.Labels | Should -Be $statusTable.Headers
            $statusTable.Headers | Should -Be @('Target', 'Complete', 'Active', 'AtActive/Encrypted', 'Nulls', 'NotCiphertext', 'RowsByVersion')
        }

        It 'shows a fully re-encrypted column as complete, 3000/3000, all at the active version' {
            $row = $statusTable.Rows | Where-Object Target -EQ 't_big.otp'
            $row.Complete | Should -Be 'True'
            $row.Active | Should -Be 'v2'
            $row.'AtActive/Encrypted' | Should -Be '3000/3000'
            $row.Nulls | Should -Be '0'
            $row.NotCiphertext | Should -Be '0'
            $row.RowsByVersion | Should -Be 'v2=3000'
        }

        It 'shows what keeps a column incomplete: rows left at v1, NULLs and values that are not ciphertext' {
            $mix = $statusTable.Rows | Where-Object Target -EQ 't_mix.otp'
            $mix.Complete | Should -Be 'False'
            $mix.Nulls | Should -Be '1'
            $status = $statuses | Where-Object Table -EQ 't_mix'
            $mix.NotCiphertext | Should -Be ([string]$status.NotCiphertext)
            $mix.'AtActive/Encrypted' | Should -Be "$($status.AtActiveVersion)/$($status.EncryptedRows)"
            $part = $statusTable.Rows | Where-Object Target -EQ 't_part.otp'
            $part.Complete | Should -Be 'False'
            $part.'AtActive/Encrypted' | Should -Be '2/5'
            @($part.RowsByVersion -split ', ' | Sort-Object) | Should -Be @('v1=3', 'v2=2')
        }
    }

    Context 'cleanup operations (Remove-UnusedEncryptionKey, Get-KeyCleanupOperation)' {
        BeforeAll {
            $key = New-KeyFileWithVersions -Folder (New-TestFolder) -Versions 'v1', 'v2', 'v3'
            $removed = Remove-UnusedEncryptionKey -Path $key -Keep 2 -SkipUsageCheck -Force -WarningAction SilentlyContinue
            $nothing = Remove-UnusedEncryptionKey -Path $key -Keep 2 -SkipUsageCheck -Force -WarningAction SilentlyContinue
            $listLabels = @('OperationId', 'Outcome', 'Removed', 'Kept', 'BackupPath', 'KeyFile', 'Started', 'Duration', 'Message')
        }

        It 'is a list view, registered for the type both cmdlets emit, since a table cannot fit its fields' {
            $removed.PSObject.TypeNames[0] | Should -Be 'SecretsPS.Core.Audit.KeyCleanupOperation'
            @(Get-KeyCleanupOperation -Path $key)[0].PSObject.TypeNames[0] | Should -Be $removed.PSObject.TypeNames[0]
            $view = Get-ViewLabels $removed.PSObject.TypeNames[0]
            $view.Kind | Should -Be 'ListControl'
            $view.Labels | Should -Be $listLabels
        }

        It 'shows its labels in order, by default and with Format-List' {
            (ConvertFrom-ListText ($removed | Out-String -Width 200)).Label | Should -Be $listLabels
            (ConvertFrom-ListText ($removed | Format-List | Out-String -Width 200)).Label | Should -Be $listLabels
        }

        It 'shows the id, outcome, removed version, why each other version was kept, the backup and the start time' {
            $list = ConvertFrom-ListText ($removed | Out-String -Width 200)
            $value = @{}; foreach ($e in $list) { $value[$e.Label] = $e.Value }
            $value.OperationId | Should -Be $removed.OperationId
            $value.Outcome | Should -Be 'Succeeded'
            $value.Removed | Should -Be 'v1'
            $value.Kept -split "`n" | Should -Be @($removed.Kept | ForEach-Object { "$($_.Version): $($_.Reason)" })
            $value.Kept | Should -Match 'v3: '
            $value.BackupPath | Should -Be $removed.BackupPath
            $value.KeyFile | Should -Be $key
            $value.Started | Should -Be $removed.StartedAt.ToString('yyyy-MM-dd HH:mm:ss zzz')
            $value.Duration | Should -Be ([string]$removed.Duration)
            $value.Message | Should -Be $removed.Message
        }

        It 'shows (none) removed for an operation that removed nothing' {
            $value = @{}; foreach ($e in (ConvertFrom-ListText ($nothing | Out-String -Width 200))) { $value[$e.Label] = $e.Value }
            $value.Outcome | Should -Be 'NothingToRemove'
            $value.Removed | Should -Be '(none)'
        }

        It 'renders what Get-KeyCleanupOperation reads back from the journal as the run did' {
            $fromJournal = Get-KeyCleanupOperation -Path $key -OperationId $removed.OperationId
            ($fromJournal | Out-String -Width 200) | Should -Be ($removed | Out-String -Width 200)
        }
    }
}

Describe 'Tab completion' {
    Context '-Version completes from the key file the command would use' {
        BeforeAll {
            # A folder whose name holds a space and a quote: -Path must be read back from a quoted argument.
            $folder = Join-Path (New-TestFolder) "it's keys"
            $key = New-KeyFileWithVersions -Folder $folder -Versions 'v1', 'v2', 'prod-3'
            $quoted = ConvertTo-Quoted $key
        }

        It 'offers exactly the versions of the file, in file order, for <Command>' -ForEach @(
            @{ Command = 'Set-ActiveEncryptionKey' }
            @{ Command = 'Get-EncryptionKey' }
            @{ Command = 'Remove-EncryptionKey' }
            @{ Command = 'Protect-EncryptedValue' }
        ) {
            (Get-Completion "$Command -Path $quoted -Version ").CompletionText | Should -Be @('v1', 'v2', 'prod-3')
        }

        It 'offers the same versions Get-EncryptionKey lists, and tells which one is active' {
            $offered = Get-Completion "Set-ActiveEncryptionKey -Path $quoted -Version "
            $offered.CompletionText | Should -Be @(Get-EncryptionKey -Path $key).Version
            ($offered | Where-Object CompletionText -EQ 'prod-3').ToolTip | Should -Be 'prod-3 (active)'
            ($offered | Where-Object CompletionText -EQ 'v1').ToolTip | Should -Be 'v1'
            $offered.ResultType | Select-Object -Unique | Should -Be 'ParameterValue'
        }

        It 'filters by the prefix typed, ignoring case and an opening quote' {
            (Get-Completion "Set-ActiveEncryptionKey -Path $quoted -Version v").CompletionText | Should -Be @('v1', 'v2')
            (Get-Completion "Set-ActiveEncryptionKey -Path $quoted -Version P").CompletionText | Should -Be @('prod-3')
            (Get-Completion "Set-ActiveEncryptionKey -Path $quoted -Version 'v2").CompletionText | Should -Be @('v2')
            (Get-Completion "Set-ActiveEncryptionKey -Path $quoted -Version zz").Count | Should -Be 0
        }

        It 'completes the first positional argument of Get-EncryptionKey, which is -Version' {
            (Get-Completion "Get-EncryptionKey -Path $quoted ").CompletionText | Should -Be @('v1', 'v2', 'prod-3')
        }

        It 'reads -Path given through its alias -FilePath' {
            (Get-Completion "Set-ActiveEncryptionKey -FilePath $quoted -Version ").CompletionText | Should -Be @('v1', 'v2', 'prod-3')
        }

        It 'reads -Path given as a variable holding the path (as scripts pass it)' {
            # $key came from Join-Path (a PSObject-wrapped string), as most scripts' paths do.
            $global:SecretsPSCompletionKey = $key
            try {
                (Get-Completion 'Set-ActiveEncryptionKey -Path $SecretsPSCompletionKey -Version ').CompletionText | Should -Be @('v1', 'v2', 'prod-3')
            } finally { Remove-Variable -Name SecretsPSCompletionKey -Scope Global }
        }

        It 'reads -Path on a PowerShell drive (TestDrive:) as the cmdlet does' {
            $onDrive = 'TestDrive:' + $key.Substring($TestDrive.Length)
            (Get-Completion "Set-ActiveEncryptionKey -Path $(ConvertTo-Quoted $onDrive) -Version ").CompletionText | Should -Be @('v1', 'v2', 'prod-3')
        }

        It 'uses ./.env.crypto, -Environment''s sibling, ./instance/.env.crypto and $env:SECRETSPS_CONFIG like the cmdlets' {
            $here = New-TestFolder
            $null = New-KeyFileWithVersions -Folder $here -Versions 'd1', 'd2'
            $null = New-KeyFileWithVersions -Folder $here -Name '.env.crypto.staging' -Versions 'stg-1'
            $instanceOnly = New-TestFolder
            $null = New-KeyFileWithVersions -Folder (Join-Path $instanceOnly 'instance') -Versions 'i1'
            Push-Location -LiteralPath $here
            try {
                (Get-Completion 'Set-ActiveEncryptionKey -Version ').CompletionText | Should -Be @('d1', 'd2')
                (Get-Completion 'Set-ActiveEncryptionKey -Environment staging -Version ').CompletionText | Should -Be @('stg-1')
                (Get-Completion "Set-ActiveEncryptionKey -Path $quoted -Version ").CompletionText | Should -Be @('v1', 'v2', 'prod-3')
                $env:SECRETSPS_CONFIG = $key
                (Get-Completion 'Set-ActiveEncryptionKey -Version ').CompletionText | Should -Be @('v1', 'v2', 'prod-3')
                Remove-Item Env:SECRETSPS_CONFIG
                Set-Location -LiteralPath $instanceOnly
                (Get-Completion 'Get-EncryptionKey -Version ').CompletionText | Should -Be @('i1')
            } finally {
                Remove-Item Env:SECRETSPS_CONFIG -ErrorAction Ignore
                Pop-Location
            }
        }

        It 'offers nothing, and adds no error, for a missing, a corrupt, an unnamed or an unreachable key file' {
            $empty = New-TestFolder
            $garbage = Write-TestKeyFile -Path (Join-Path $empty 'garbage.crypto') -Text "not a key file`n=== ###`n"
            $errorsBefore = $Error.Count
            (Get-Completion "Set-ActiveEncryptionKey -Path $(ConvertTo-Quoted (Join-Path $empty 'none')) -Version ").Count | Should -Be 0
            (Get-Completion "Set-ActiveEncryptionKey -Path $(ConvertTo-Quoted $garbage) -Version ").Count | Should -Be 0
            (Get-Completion "Set-ActiveEncryptionKey -Path $quoted -Environment ../x -Version ").Count | Should -Be 0
            (Get-Completion 'Set-ActiveEncryptionKey -Path NoSuchDrive:/.env.crypto -Version ').Count | Should -Be 0
            Push-Location -LiteralPath $empty
            try { (Get-Completion 'Set-ActiveEncryptionKey -Version ').Count | Should -Be 0 } finally { Pop-Location }
            $Error.Count | Should -Be $errorsBefore
        }

        It 'needs no quoting: a version name can hold no space or quote (FORMATS.md §1), so one is refused' {
            # The completer's bare CompletionText is safe only because such names cannot reach a key file.
            $e = Get-ErrorRecord { Invoke-KeyRotation -Path $key -NewVersion "it's v4" -Force -ErrorAction Stop }
            Assert-SecretsPSError -ErrorRecord $e -ErrorId VersionNameInvalid
            (Get-Completion "Set-ActiveEncryptionKey -Path $quoted -Version ").CompletionText | ForEach-Object { $_ | Should -Match '^[A-Za-z0-9][A-Za-z0-9._-]*$' }
        }
    }

    Context '-Kdf completes the key derivations' {
        It 'offers hkdf-sha256, pbkdf2-sha256:600000 and raw for <Command>' -ForEach @(
            @{ Command = 'New-EncryptionConfig' }
            @{ Command = 'Invoke-KeyRotation' }
        ) {
            (Get-Completion "$Command -Kdf ").CompletionText | Should -BeExactly @('hkdf-sha256', 'pbkdf2-sha256:600000', 'raw')
        }

        It 'filters by the prefix typed, ignoring case and an opening quote' {
            (Get-Completion 'New-EncryptionConfig -Kdf P').CompletionText | Should -Be @('pbkdf2-sha256:600000')
            (Get-Completion "New-EncryptionConfig -Kdf 'h").CompletionText | Should -Be @('hkdf-sha256')
            (Get-Completion 'New-EncryptionConfig -Kdf x').Count | Should -Be 0
        }

        It 'offers only values New-EncryptionConfig accepts, each written to the key file' {
            $folder = New-TestFolder
            foreach ($kdf in (Get-Completion 'New-EncryptionConfig -Kdf ').CompletionText) {
                $path = Join-Path $folder ".env.crypto.$($kdf -replace '\W', '_')"
                $null = New-EncryptionConfig -Path $path -Kdf $kdf -WarningAction SilentlyContinue -ErrorAction Stop
                (Get-EncryptionKey -Path $path).Kdf | Should -Be $kdf
            }
        }
    }

    Context '-Provider and -Status complete from their sets' {
        It 'offers MySql, PostgreSql, Sqlite and SqlServer for -Provider of <Command>' -ForEach @(
            @{ Command = 'Start-Reencryption' }
            @{ Command = 'Get-ReencryptJob' }
            @{ Command = 'Get-EncryptedColumnStatus' }
        ) {
            (Get-Completion "$Command -Provider ").CompletionText | Sort-Object | Should -BeExactly @('MySql', 'PostgreSql', 'Sqlite', 'SqlServer')
            (Get-Completion "$Command -Provider sq").CompletionText | Sort-Object | Should -BeExactly @('Sqlite', 'SqlServer')
        }

        It 'offers every job state for Get-ReencryptJob -Status, and only those' {
            # The enum behind ReencryptJob.Status (the module's assemblies load in their own context, so not by type name).
            $jobType = (Get-Command Get-ReencryptJob).OutputType[0].Type
            $states = $jobType.GetProperty('Status').PropertyType.GetEnumNames() | Sort-Object
            $states.Count | Should -Be 6
            (Get-Completion 'Get-ReencryptJob -Status ').CompletionText | Sort-Object | Should -BeExactly @($states)
            (Get-Completion 'Get-ReencryptJob -Status f').CompletionText | Sort-Object | Should -BeExactly @('Failed', 'Finished')
        }
    }

    Context '-OperationId completes from the audit journal' {
        BeforeAll {
            $key = New-KeyFileWithVersions -Folder (New-TestFolder) -Versions 'v1', 'v2', 'v3'
            $quoted = ConvertTo-Quoted $key
            $noJournal = Get-Completion "Get-KeyCleanupOperation -Path $quoted -OperationId "
            $first = Remove-UnusedEncryptionKey -Path $key -Keep 2 -SkipUsageCheck -Force -WarningAction SilentlyContinue
            $second = Remove-UnusedEncryptionKey -Path $key -Keep 2 -SkipUsageCheck -Force -WarningAction SilentlyContinue
        }

        It 'offers nothing before any cleanup ran (no journal)' {
            $noJournal.Count | Should -Be 0
        }

        It 'offers the ids of the operations the journal holds, newest first, with their outcome' {
            $offered = Get-Completion "Get-KeyCleanupOperation -Path $quoted -OperationId "
            $offered.CompletionText | Should -Be @($second.OperationId, $first.OperationId)
            $journal = @(Get-KeyCleanupOperation -Path $key).OperationId
            [array]::Reverse($journal)
            $offered.CompletionText | Should -Be $journal
            $offered[0].ToolTip | Should -Be "$($second.OperationId) (NothingToRemove)"
            $offered[1].ToolTip | Should -Be "$($first.OperationId) (Succeeded)"
        }

        It 'completes the first positional argument, which is -OperationId, and filters by the prefix typed' {
            (Get-Completion "Get-KeyCleanupOperation -Path $quoted ").CompletionText | Should -Be @($second.OperationId, $first.OperationId)
            (Get-Completion "Get-KeyCleanupOperation -Path $quoted -OperationId $($first.OperationId)").CompletionText | Should -Be @($first.OperationId)
            (Get-Completion "Get-KeyCleanupOperation -Path $quoted -OperationId nope_").Count | Should -Be 0
        }

        It 'skips a damaged journal line and still offers the others' {
            $copy = Join-Path (New-TestFolder) '.env.crypto'
            Copy-Item -LiteralPath $key -Destination $copy
            Copy-Item -LiteralPath "$key.audit.jsonl" -Destination "$copy.audit.jsonl"
            Add-Content -LiteralPath "$copy.audit.jsonl" -Value '{"operationId": broken'
            (Get-Completion "Get-KeyCleanupOperation -Path $(ConvertTo-Quoted $copy) -OperationId ").CompletionText | Should -Be @($second.OperationId, $first.OperationId)
        }

        It 'offers nothing, and adds no error, for a missing, a corrupt or an unreachable key file without a journal' {
            $folder = New-TestFolder
            $garbage = Write-TestKeyFile -Path (Join-Path $folder 'garbage.crypto') -Text "not a key file`n"
            $errorsBefore = $Error.Count
            (Get-Completion "Get-KeyCleanupOperation -Path $(ConvertTo-Quoted (Join-Path $folder 'none')) -OperationId ").Count | Should -Be 0
            (Get-Completion "Get-KeyCleanupOperation -Path $(ConvertTo-Quoted $garbage) -OperationId ").Count | Should -Be 0
            (Get-Completion 'Get-KeyCleanupOperation -Path NoSuchDrive:/.env.crypto -OperationId ').Count | Should -Be 0
            $Error.Count | Should -Be $errorsBefore
        }
    }
}
