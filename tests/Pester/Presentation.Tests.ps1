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
            (so a date and time, or a message, comes back whole). A view may break a cell over lines (a long message
            between words, a long target after a dot): a line whose -Key cell is blank continues the row above, and
            each of its cells is joined to that row's with "`n".
        #>
        param([string] $Text, [string] $TypeName, [string] $Key)
        $right = @(@((Get-FormatData -TypeName $TypeName).FormatViewDefinition)[0].Control.Headers |
                Where-Object { "$($_.Alignment)" -eq 'Right' } | ForEach-Object Label)
        $lines = @($Text -split '\r?\n' | Where-Object { $_.Trim() })
        $dash = -1
        for ($i = 0; $i -lt $lines.Count; $i++) { if ($lines[$i] -match '^[\s-]+$') { $dash = $i; break } }
        if ($dash -lt 1) { throw "No table header in:`n$Text" }
        $segments = @([regex]::Matches($lines[$dash], '-+'))
        $width = ($lines | Measure-Object -Property Length -Maximum).Maximum
        $headers = @(foreach ($s in $segments) { $lines[$dash - 1].PadRight($width).Substring($s.Index, $s.Length).Trim() })
        if (-not $Key) { $Key = $headers[0] }
        $rows = [Collections.Generic.List[object]]::new()
        foreach ($line in @($lines | Select-Object -Skip ($dash + 1))) {
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
            $keyAt = [array]::IndexOf($headers, $Key)
            if ($rows.Count -and -not $cells[$keyAt].Trim()) {
                $row = $rows[$rows.Count - 1]
                for ($c = 0; $c -lt $headers.Count; $c++) { if ($cells[$c].Trim()) { $row.($headers[$c]) += "`n" + $cells[$c].Trim() } }
                continue
            }
            $row = [ordered]@{}
            for ($c = 0; $c -lt $headers.Count; $c++) { $row[$headers[$c]] = $cells[$c] }
            $rows.Add([pscustomobject]$row)
        }
        [pscustomobject]@{ Headers = $headers; Rows = $rows.ToArray() }
    }

    function Assert-FitsWidth {
        <#
            Every line of a rendered view within the width, and no cell cut short ('…') but a name in -NameColumn (a
            table cuts a long name; never a count, a date or a message): what an 80-column terminal shows whole.
        #>
        param([string] $Text, [int] $Width, [object[]] $Rows, [string] $NameColumn)
        foreach ($line in $Text -split '\r?\n') { $line.Length | Should -BeLessOrEqual $Width -Because "'$line' must fit $Width columns" }
        if (-not $Rows) { $Text | Should -Not -Match '…' -Because 'no cell may be cut short'; return }
        foreach ($row in $Rows) {
            foreach ($p in $row.PSObject.Properties) { if ($p.Name -ne $NameColumn) { $p.Value | Should -Not -Match '…' -Because "$($p.Name) must not be cut" } }
        }
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
            # v1, v2 (active, not the newest: the flag must follow IsActive, not the order), a long name with another KDF.
            $key = New-KeyFileWithVersions -Folder (New-TestFolder) -Versions 'v1', 'v2'
            $null = Invoke-KeyRotation -Path $key -NewVersion 'prod-2026-01-rotation' -Kdf 'pbkdf2-sha256:600000' -Force -WarningAction SilentlyContinue
            $null = Set-ActiveEncryptionKey -Path $key -Version v2 -Confirm:$false -WarningAction SilentlyContinue
            $versions = @(Get-EncryptionKey -Path $key)
            $typeName = $versions[0].PSObject.TypeNames[0]
            $text = @{ 80 = $versions | Out-String -Width 80; 120 = $versions | Out-String -Width 120 }
        }

        It 'is the table view registered for the type Get-EncryptionKey emits, with Version, IsActive, Created, Kdf, Source' {
            $versions.Count | Should -Be 3
            $typeName | Should -Be 'SecretsPS.Core.Config.KeyVersionInfo'
            $view = Get-ViewLabels $typeName
            $view.Kind | Should -Be 'TableControl'
            $view.Labels | Should -Be @('Version', 'IsActive', 'Created', 'Kdf', 'Source')
            (ConvertFrom-TableText ($versions | Format-Table | Out-String -Width 80) $typeName).Headers | Should -Be $view.Labels
        }

        It 'at width <Width> fits, and shows each version whole: name, active flag, kdf, source, Created in UTC with a Z' -ForEach @(@{ Width = 80 }, @{ Width = 120 }) {
            Assert-FitsWidth $text[$Width] $Width
            $table = ConvertFrom-TableText $text[$Width] $typeName
            $table.Headers | Should -Be @('Version', 'IsActive', 'Created', 'Kdf', 'Source')
            $table.Rows.Version | Should -Be @('v1', 'v2', 'prod-2026-01-rotation')
            $table.Rows.IsActive | Should -Be @('False', 'True', 'False')
            $table.Rows.Kdf | Should -Be @('hkdf-sha256', 'hkdf-sha256', 'pbkdf2-sha256:600000')
            $table.Rows.Source | Should -Be @('File', 'File', 'File')
            for ($i = 0; $i -lt 3; $i++) {
                $table.Rows[$i].Created | Should -Match '^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$'
                $table.Rows[$i].Created | Should -Be ($versions[$i].Created.UtcDateTime.ToString('yyyy-MM-dd HH:mm:ss') + 'Z')
            }
        }

        It 'names each header after the property that holds its value (Select-Object <header> works)' {
            foreach ($header in (Get-ViewLabels $typeName).Labels) {
                $versions[0].PSObject.Properties[$header] | Should -Not -BeNullOrEmpty -Because "$header must be a property"
            }
            @($versions | Where-Object IsActive).Version | Should -Be 'v2'
        }
    }

    Context 'config checks (Test-EncryptionConfig -Detailed)' {
        BeforeAll {
            $goodKey = New-KeyFileWithVersions -Folder (New-TestFolder) -Versions 'v1', 'prod-2026-01-rotation'
            $good = @(Test-EncryptionConfig -Path $goodKey -Detailed)
            $damagedPath = Join-Path (New-TestFolder) '.env.crypto'
            Write-DamagedKeyFile -Path $damagedPath -Problem SaltIntegrityCheckFailed
            $damaged = @(Test-EncryptionConfig -Path $damagedPath -Detailed -WarningAction SilentlyContinue -ErrorAction SilentlyContinue)
            $typeName = $good[0].PSObject.TypeNames[0]
        }

        It 'is the table view registered for the type Test-EncryptionConfig emits, with Status, Check, Version, Message' {
            $typeName | Should -Be 'SecretsPS.Core.Config.ConfigCheck'
            $view = Get-ViewLabels $typeName
            $view.Kind | Should -Be 'TableControl'
            $view.Labels | Should -Be @('Status', 'Check', 'Version', 'Message')
        }

        It 'at width <Width> fits, and shows each check with its status, name, version and whole message, broken between words' -ForEach @(@{ Width = 80 }, @{ Width = 120 }) {
            $text = $good | Out-String -Width $Width
            Assert-FitsWidth $text $Width
            $rows = (ConvertFrom-TableText $text $typeName).Rows
            $rows.Count | Should -Be $good.Count
            $rows.Status | Should -Be @($good.Status)
            $rows.Check | Should -Be $good.Check
            # A version name longer than its column breaks after a dash, never inside a part that fits.
            @($rows.Version | ForEach-Object { $_ -replace "`n", '' }) | Should -Be @($good | ForEach-Object { [string]$_.Version })
            @($rows.Version | Where-Object { $_ -match "`n" } | Select-Object -Unique) | Should -Be @("prod-2026-`n01-rotation")
            # Whole, and broken only where a space was, unless a word (the key file's path) is longer than a line.
            @($rows.Message | ForEach-Object { $_ -replace '\s', '' }) | Should -Be @($good.Message | ForEach-Object { $_ -replace '\s', '' })
            for ($i = 0; $i -lt $rows.Count; $i++) {
                if (@($good[$i].Message -split ' ' | Where-Object Length -GT 44).Count -eq 0) { $rows[$i].Message -replace "`n", ' ' | Should -Be $good[$i].Message }
            }
            $rows.Status | Should -Not -Contain 'Failed'
        }

        It 'shows the failed check of a damaged version as Failed, with that version' {
            $rows = (ConvertFrom-TableText ($damaged | Out-String -Width 80) $typeName).Rows
            $failed = @($rows | Where-Object Status -EQ 'Failed')
            $failed.Count | Should -BeGreaterThan 0
            $failed.Version | Should -Contain 'v1'
            @($failed.Message | ForEach-Object { $_ -replace "`n", ' ' }) | Should -Be @($damaged | Where-Object Status -EQ 'Failed' | ForEach-Object Message)
        }
    }

    Context 're-encryption jobs, column status, preview (SQLite)' {
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
            # A long target (a name longer than the Target column) and a run that only skips: all 4 already at v2.
            New-TestSecretTable -Database $db -Table t_usuarios_com_nome_longo -Values (New-TestStoredValue (New-TestPlaintext 4 'skip') $key -Version v2)
            $preview = Start-Reencryption -Table t_mix -Column otp @run -WhatIf -WarningAction SilentlyContinue -ErrorAction SilentlyContinue
            $started = @(
                Start-Reencryption -Table t_big -Column otp @run
                Start-Reencryption -Table t_mix -Column otp @run -WarningAction SilentlyContinue -ErrorAction SilentlyContinue
                Start-Reencryption -Table t_part -Column otp @run -MaxRows 2 -WarningAction SilentlyContinue
                Start-Reencryption -Table t_usuarios_com_nome_longo -Column otp @run -WarningAction SilentlyContinue
            )
            $jobs = @(Get-ReencryptJob -Provider Sqlite -ConnectionString $db.ConnectionString)
            $jobType = $jobs[0].PSObject.TypeNames[0]
            # The same 3,000 values in chunks of 700 rows (a table of their own: t_big, done, would only be counted again), and
            # its owner as long as a worker's owner gets on a long host name.
            New-TestSecretTable -Database $db -Table t_chunked -Values (New-TestStoredValue (New-TestPlaintext 3000 'big') $key)
            $chunked = Start-Reencryption -Table t_chunked -Column otp @run -ChunkSize 700
            $chunks = @(Get-ReencryptJob -Id $chunked.Id -Provider Sqlite -ConnectionString $db.ConnectionString -Detailed)
            $statuses = @('t_big', 't_mix', 't_part', 't_usuarios_com_nome_longo' | ForEach-Object { Get-EncryptedColumnStatus -Table $_ -Column otp @run -WarningAction SilentlyContinue })
            $statusType = $statuses[0].PSObject.TypeNames[0]
        }

        It 'is the table view registered for the job type Get-ReencryptJob and Start-Reencryption emit' {
            $jobs.Count | Should -Be 4
            $jobType | Should -Be 'SecretsPS.Core.Reencryption.ReencryptJob'
            $started[0].PSObject.TypeNames[0] | Should -Be $jobType
            $view = Get-ViewLabels $jobType
            $view.Kind | Should -Be 'TableControl'
            $view.Labels | Should -Be @('Id', 'Target', 'Status', 'Processed', 'Skipped', 'Errors', 'UpdatedAt')
            (ConvertFrom-TableText ($started | Out-String -Width 80) $jobType).Headers | Should -Be $view.Labels
        }

        It 'Get-ReencryptJob -Detailed has a table view of the chunks that fits <Width> columns with no count or time cut' -ForEach @(@{ Width = 80 }, @{ Width = 120 }) {
            $chunkType = $chunks[0].PSObject.TypeNames[0]
            $chunkType | Should -Be 'SecretsPS.Core.Reencryption.ReencryptJobChunk'
            $view = Get-ViewLabels $chunkType
            $view.Kind | Should -Be 'TableControl'
            $view.Labels | Should -Be @('JobId', 'Chunk', 'Status', 'Processed', 'Errors', 'UpdatedAt', 'Owner')
            $chunks.Count | Should -Be 5
            $text = $chunks | Out-String -Width $Width
            $table = ConvertFrom-TableText $text $chunkType -Key Chunk
            Assert-FitsWidth $text $Width -Rows $table.Rows -NameColumn Owner
            $table.Rows.Chunk | Should -Be @('0', '1', '2', '3', '4')
            $table.Rows.Status | Should -Be @('done', 'done', 'done', 'done', 'done')
            ($table.Rows.Processed | ForEach-Object { [long]$_ } | Measure-Object -Sum).Sum | Should -Be 3000 # every value of t_chunked, once
            $table.Rows | ForEach-Object { $_.UpdatedAt | Should -Match '^\d{4}-\d\d-\d\d \d\d:\d\dZ$' }
        }

        It 'at width <Width> fits, with no count or time cut, and shows what each count is' -ForEach @(@{ Width = 80 }, @{ Width = 120 }) {
            $text = $jobs | Out-String -Width $Width
            $table = ConvertFrom-TableText $text $jobType -Key Id
            Assert-FitsWidth $text $Width -Rows $table.Rows -NameColumn Target
            $table.Rows.Id | Should -Be @($jobs.Id | ForEach-Object { [string]$_ })
            $big = $table.Rows | Where-Object Target -EQ 't_big.otp'
            $big.Status | Should -BeExactly 'finished'
            ($big.Processed, $big.Skipped, $big.Errors) | Should -Be @('3000', '0', '0')
            $mix = $table.Rows | Where-Object Target -EQ 't_mix.otp'
            ($mix.Processed, $mix.Skipped, $mix.Errors) | Should -Be @('3', '1', '2')
            $part = $table.Rows | Where-Object Target -EQ 't_part.otp'
            $part.Status | Should -BeExactly 'paused'
            $part.Processed | Should -Be '2'
            # A run that only skipped reads 0 processed, 4 skipped: never as if it had re-encrypted 4 rows.
            $skipOnly = $table.Rows | Where-Object Id -EQ ([string]($jobs | Where-Object Table -EQ 't_usuarios_com_nome_longo').Id)
            $skipOnly.Target | Should -BeLike 't_usuarios_com_nome*'
            ($skipOnly.Processed, $skipOnly.Skipped) | Should -Be @('0', '4')
            for ($i = 0; $i -lt $jobs.Count; $i++) {
                $table.Rows[$i].UpdatedAt | Should -Match '^\d{4}-\d\d-\d\d \d\d:\d\dZ$'
                $table.Rows[$i].UpdatedAt | Should -Be ($jobs[$i].UpdatedAt.UtcDateTime.ToString('yyyy-MM-dd HH:mm') + 'Z')
            }
        }

        It 'is the table view registered for the type Get-EncryptedColumnStatus emits' {
            $statusType | Should -Be 'SecretsPS.Core.Data.EncryptedColumnStatus'
            $view = Get-ViewLabels $statusType
            $view.Kind | Should -Be 'TableControl'
            $view.Labels | Should -Be @('Target', 'IsComplete', 'ActiveVersion', 'NotCiphertext', 'RowsByVersion')
        }

        It 'at width <Width> fits, and shows each column whole: complete or not, active version, counts by version' -ForEach @(@{ Width = 80 }, @{ Width = 120 }) {
            $text = $statuses | Out-String -Width $Width
            $rows = (ConvertFrom-TableText $text $statusType -Key IsComplete).Rows
            Assert-FitsWidth $text $Width -Rows $rows -NameColumn Target
            $rows.Count | Should -Be 4
            # A target longer than its column breaks after a dot (a part longer still is cut), a list of versions after a
            # comma: never inside a count.
            @($rows.Target | Select-Object -First 3 | ForEach-Object { $_ -replace "`n", '' }) | Should -Be @($statuses.Target | Select-Object -First 3)
            $rows[3].Target -split "`n" | Should -Be @('t_usuarios_com_nome_l…', 'otp')
            @($rows.RowsByVersion | ForEach-Object { $_ -replace ",`n", ', ' }) | Should -Be @($statuses | ForEach-Object { $_.RowsByVersion.ToString() })
            $rows.IsComplete | Should -Be @('True', 'False', 'False', 'True')
            $rows.ActiveVersion | Should -Be @('v2', 'v2', 'v2', 'v2')
            $rows.NotCiphertext | Should -Be @($statuses | ForEach-Object { [string]$_.NotCiphertext })
            $rows[0].RowsByVersion | Should -Be 'v2=3000'
            @($rows[2].RowsByVersion -split ', ' | Sort-Object) | Should -Be @('v1=3', 'v2=2')
        }

        It 'names each header of the job and status views after the property that holds its value' {
            foreach ($header in (Get-ViewLabels $jobType).Labels) { $jobs[0].PSObject.Properties[$header] | Should -Not -BeNullOrEmpty -Because $header }
            foreach ($header in (Get-ViewLabels $statusType).Labels) { $statuses[0].PSObject.Properties[$header] | Should -Not -BeNullOrEmpty -Because $header }
            @($statuses | Select-Object -ExpandProperty IsComplete) | Should -Be @($true, $false, $false, $true)
            @($jobs | Where-Object Status -EQ 'finished').Count | Should -Be 3
        }

        It 'shows the -WhatIf preview as a list, its counts by version as v1=3, v2=1, at width <Width>' -ForEach @(@{ Width = 80 }, @{ Width = 120 }) {
            $preview.PSObject.TypeNames[0] | Should -Be 'SecretsPS.Core.Reencryption.ReencryptionPreview'
            $text = $preview | Out-String -Width $Width
            Assert-FitsWidth $text $Width
            $value = @{}; foreach ($e in (ConvertFrom-ListText $text)) { $value[$e.Label] = $e.Value }
            $value.Target | Should -Be 't_mix.otp'
            $value.WouldReencrypt | Should -Be ([string]$preview.WouldReencrypt)
            $value.RowsByVersion | Should -Be $preview.RowsByVersion.ToString()
            $value.RowsByVersion | Should -Match '^v1=3, v2=1\b'
            $text | Should -Not -Match '\[v1, '
        }
    }

    Context 'cleanup operations (Remove-UnusedEncryptionKey, Get-KeyCleanupOperation)' {
        BeforeAll {
            $key = New-KeyFileWithVersions -Folder (New-TestFolder) -Versions 'v1', 'v2', 'v3'
            $removed = Remove-UnusedEncryptionKey -Path $key -Keep 2 -SkipUsageCheck -Force -WarningAction SilentlyContinue
            $nothing = Remove-UnusedEncryptionKey -Path $key -Keep 2 -SkipUsageCheck -Force -WarningAction SilentlyContinue
            $listLabels = @('OperationId', 'Outcome', 'Removed', 'Kept', 'BackupPath', 'KeyFile', 'StartedAt', 'Duration', 'Message')
        }

        It 'is a list view, registered for the type both cmdlets emit, since a table cannot fit its fields' {
            $removed.PSObject.TypeNames[0] | Should -Be 'SecretsPS.Core.Audit.KeyCleanupOperation'
            @(Get-KeyCleanupOperation -Path $key)[0].PSObject.TypeNames[0] | Should -Be $removed.PSObject.TypeNames[0]
            $view = Get-ViewLabels $removed.PSObject.TypeNames[0]
            $view.Kind | Should -Be 'ListControl'
            $view.Labels | Should -Be $listLabels
            foreach ($label in $listLabels) { $removed.PSObject.Properties[$label] | Should -Not -BeNullOrEmpty -Because $label }
        }

        It 'shows its labels in order, by default and with Format-List' {
            (ConvertFrom-ListText ($removed | Out-String -Width 200)).Label | Should -Be $listLabels
            (ConvertFrom-ListText ($removed | Format-List | Out-String -Width 200)).Label | Should -Be $listLabels
        }

        It 'shows the id, outcome, removed version, why each other version was kept, the backup and the start time in UTC' {
            $list = ConvertFrom-ListText ($removed | Out-String -Width 200)
            $value = @{}; foreach ($e in $list) { $value[$e.Label] = $e.Value }
            $value.OperationId | Should -Be $removed.OperationId
            $value.Outcome | Should -Be 'Succeeded'
            $value.Removed | Should -Be 'v1'
            # One kept version a line; a long reason continues on the next lines, indented, broken between words.
            $value.Kept -replace "`n\s+", ' ' -split "`n" | Should -Be @($removed.Kept | ForEach-Object { "$($_.Version): $($_.Reason)" })
            $value.Kept | Should -Match 'v3: '
            $value.BackupPath | Should -Be $removed.BackupPath
            $value.KeyFile | Should -Be $key
            $value.StartedAt | Should -Be ($removed.StartedAt.UtcDateTime.ToString('yyyy-MM-dd HH:mm:ss') + 'Z')
            $value.Duration | Should -Be ([string]$removed.Duration)
            $value.Message | Should -Be $removed.Message
        }

        It 'names its operation after the UTC time it started, as its backup is named' {
            $removed.StartedAt.Offset | Should -Be ([TimeSpan]::Zero)
            $removed.OperationId | Should -Match ('^cleanup_' + $removed.StartedAt.UtcDateTime.ToString('yyyyMMdd_HH') + '\d{4}_[0-9a-f]{4}$')
            @($removed.Steps.Time | Where-Object { $_.Offset -ne [TimeSpan]::Zero }).Count | Should -Be 0
        }

        It 'fits 80 columns, a long reason broken between words' {
            $text = $removed | Out-String -Width 80
            Assert-FitsWidth $text 80
            $value = @{}; foreach ($e in (ConvertFrom-ListText $text)) { $value[$e.Label] = $e.Value }
            ($value.Kept -split "`n") -join ' ' | Should -Be (@($removed.Kept | ForEach-Object { "$($_.Version): $($_.Reason)" }) -join ' ')
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
            # The enum behind -Status (the module's assemblies load in their own context, so not by type name).
            $jobType = (Get-Command Get-ReencryptJob).OutputType[0].Type
            $states = $jobType.Assembly.GetType('SecretsPS.Core.Reencryption.JobStatus').GetEnumNames() | Sort-Object
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
