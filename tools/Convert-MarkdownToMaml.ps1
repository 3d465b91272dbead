<#
.SYNOPSIS
    Converts cmdlet help pages in PlatyPS's markdown layout into one MAML help file.
.DESCRIPTION
    A dependency-free stand-in for PlatyPS's New-ExternalHelp. Reads every *.md page in -SourceFolder that
    has a "# Verb-Noun" title and a "## SYNOPSIS" section (about_* pages are skipped) and writes the MAML
    file that Get-Help reads for a binary module (<module>.dll-Help.xml beside the module, in a culture
    folder such as en-US).

    The page layout is PlatyPS's (schema 2.0.0):

        ---                                  front matter: external help file, Module Name, online version, schema
        # Verb-Noun
        ## SYNOPSIS                          one paragraph
        ## SYNTAX                            one ``` block per parameter set; "### SetName (Default)" before
                                             each block when the cmdlet has more than one set
        ## DESCRIPTION                       paragraphs
        ## EXAMPLES                          "### Example 1: title", code block(s), remark paragraphs; an
                                             Output block (sample output) goes to the remarks, not the code
        ## PARAMETERS                        "### -Name", description, a ```yaml block per group of sets
                                             (Type, Parameter Sets, Aliases, Accepted values, Required,
                                             Position, Default value, Accept pipeline input,
                                             Accept wildcard characters); "### CommonParameters"
        ## INPUTS / ## OUTPUTS               "### Type.Name" and a description
        ## NOTES                             paragraphs
        ## RELATED LINKS                     [text](uri) lines

    Each syntax item lists the parameters named in that set's syntax line, in that order, with the
    attributes of the yaml block that covers the set. A page that cannot be understood stops the
    conversion with the file and line; a missing optional section is a warning.
.PARAMETER SourceFolder
    The folder of markdown pages (docs/cmdlets).
.PARAMETER OutputPath
    The MAML file to write, e.g. out/SecretsPS/en-US/SecretsPS.dll-Help.xml. Its folder is created.
.EXAMPLE
    ./tools/Convert-MarkdownToMaml.ps1 -SourceFolder ./docs/cmdlets -OutputPath ./out/SecretsPS/en-US/SecretsPS.dll-Help.xml
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)]
    [string] $SourceFolder,

    [Parameter(Mandatory)]
    [string] $OutputPath
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$NsMaml = 'http://schemas.microsoft.com/maml/2004/10'
$NsCommand = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
$NsDev = 'http://schemas.microsoft.com/maml/dev/2004/10'
$NsMSHelp = 'http://msdn.microsoft.com/mshelp'
$AllSets = '(All)'

# ---------------------------------------------------------------------------------------------------------
# Markdown: front matter, then a flat list of blocks (heading, code, paragraph) with their line numbers.
# ---------------------------------------------------------------------------------------------------------

function ConvertTo-InlineText {
    # Markdown inline text as plain help text: links become their text (and absolute address), hard
    # line-break spaces go. Code spans and emphasis are kept as written, as Microsoft's own help does.
    param([string] $Text)
    $t = [regex]::Replace($Text, '!?\[([^\]]*)\]\(([^)\s]*)[^)]*\)', {
            param($m)
            $label = $m.Groups[1].Value
            $uri = $m.Groups[2].Value
            if ($uri -match '^[a-z][a-z0-9+.-]*://') { "$label ($uri)" } else { $label }
        })
    return $t.Trim()
}

function Read-MarkdownPage {
    param([string] $File)

    $text = [IO.File]::ReadAllText($File)
    if ($text.Length -gt 0 -and $text[0] -eq [char]0xFEFF) { $text = $text.Substring(1) }
    $lines = $text -replace "`r`n?", "`n" -split "`n"

    $front = [ordered]@{}
    $i = 0
    if ($lines.Count -gt 0 -and $lines[0].Trim() -eq '---') {
        $i = 1
        while ($i -lt $lines.Count -and $lines[$i].Trim() -ne '---') {
            if ($lines[$i] -match '^\s*([^:#]+?)\s*:\s*(.*?)\s*$') { $front[$Matches[1]] = $Matches[2].Trim('"', "'") }
            $i++
        }
        if ($i -ge $lines.Count) { throw "${File}: the front matter that starts on line 1 is never closed with '---'." }
        $i++
    }

    $blocks = [Collections.Generic.List[object]]::new()
    $para = [Collections.Generic.List[string]]::new()
    $paraLine = 0
    $flush = {
        if ($para.Count -gt 0) {
            $blocks.Add([pscustomobject]@{ Kind = 'Para'; Text = (ConvertTo-InlineText ($para -join ' ')); Lines = @($para); Line = $paraLine })
            $para.Clear()
        }
    }
    while ($i -lt $lines.Count) {
        $line = $lines[$i]
        $n = $i + 1
        if ($line -match '^\s{0,3}(`{3,}|~{3,})\s*([^\s`]*)') {
            . $flush
            $fence = $Matches[1]
            $lang = $Matches[2]
            $code = [Collections.Generic.List[string]]::new()
            $i++
            while ($i -lt $lines.Count -and -not ($lines[$i] -match "^\s{0,3}$([regex]::Escape($fence[0]))" + "{$($fence.Length),}\s*$")) {
                $code.Add($lines[$i]); $i++
            }
            if ($i -ge $lines.Count) { throw "${File}:${n}: the code block that starts here is never closed." }
            $blocks.Add([pscustomobject]@{ Kind = 'Code'; Lang = $lang; Text = ($code -join "`n"); Line = $n })
        }
        elseif ($line -match '^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$') {
            . $flush
            $blocks.Add([pscustomobject]@{ Kind = 'Heading'; Level = $Matches[1].Length; Text = $Matches[2]; Line = $n })
        }
        elseif ($line.Trim().Length -eq 0) {
            . $flush
        }
        elseif ($line -match '^\s{0,3}([-*+]|\d+[.)])\s+') {
            # A list item is a paragraph of its own (Get-Help wraps each para separately).
            . $flush
            $para.Add($line.Trim()); $paraLine = $n
        }
        else {
            if ($para.Count -eq 0) { $paraLine = $n }
            $para.Add($line.Trim())
        }
        $i++
    }
    . $flush
    return [pscustomobject]@{ File = $File; FrontMatter = $front; Blocks = $blocks }
}

function Split-Sections {
    # "## NAME" sections of a page: name (upper case) -> its blocks, in order.
    param($Page)
    $sections = [ordered]@{}
    $current = $null
    $title = $null
    foreach ($b in $Page.Blocks) {
        if ($b.Kind -eq 'Heading' -and $b.Level -eq 1) {
            if ($null -ne $title) { throw "$($Page.File):$($b.Line): a second '# ' title ('$($b.Text)'); a page documents one command." }
            $title = $b
            $current = $null
            continue
        }
        if ($b.Kind -eq 'Heading' -and $b.Level -eq 2) {
            $name = $b.Text.Trim().ToUpperInvariant()
            if ($sections.Contains($name)) { throw "$($Page.File):$($b.Line): the section '## $($b.Text)' appears twice." }
            $current = [Collections.Generic.List[object]]::new()
            $sections[$name] = $current
            continue
        }
        if ($null -ne $current) { $current.Add($b) }
    }
    return [pscustomobject]@{ Title = $title; Sections = $sections }
}

function Get-Paragraphs {
    # Text of paragraphs and code blocks (a code block keeps its line breaks) up to the first heading.
    param($Blocks)
    foreach ($b in $Blocks) {
        if ($b.Kind -eq 'Heading') { break }
        if ($b.Text.Trim().Length -gt 0) { $b.Text }
    }
}

function Split-Subsections {
    # "### Title" groups within a section; blocks before the first ### come back under the name ''.
    param($Blocks)
    $groups = [Collections.Generic.List[object]]::new()
    $current = [pscustomobject]@{ Title = ''; Line = 0; Blocks = [Collections.Generic.List[object]]::new() }
    foreach ($b in $Blocks) {
        if ($b.Kind -eq 'Heading' -and $b.Level -eq 3) {
            if ($current.Title -ne '' -or $current.Blocks.Count -gt 0) { $groups.Add($current) }
            $current = [pscustomobject]@{ Title = $b.Text.Trim(); Line = $b.Line; Blocks = [Collections.Generic.List[object]]::new() }
        }
        else { $current.Blocks.Add($b) }
    }
    if ($current.Title -ne '' -or $current.Blocks.Count -gt 0) { $groups.Add($current) }
    return , $groups
}

# ---------------------------------------------------------------------------------------------------------
# A page as a command model
# ---------------------------------------------------------------------------------------------------------

function ConvertFrom-ParameterYaml {
    param([string] $Yaml, [string] $Where)
    $fields = @{}
    foreach ($l in $Yaml -split "`n") {
        if ($l.Trim().Length -eq 0 -or $l.TrimStart().StartsWith('#')) { continue }
        if ($l -notmatch '^\s*([A-Za-z][A-Za-z ]*?)\s*:\s*(.*?)\s*$') { throw "${Where}: cannot read the yaml line '$l' (expected 'Name: value')." }
        $fields[$Matches[1].ToLowerInvariant()] = $Matches[2]
    }
    foreach ($required in 'type', 'parameter sets', 'required', 'position') {
        if (-not $fields.ContainsKey($required)) { throw "${Where}: the yaml block has no '$((Get-Culture).TextInfo.ToTitleCase($required)):' line." }
    }
    $split = { param($v) @(($v -split ',') | ForEach-Object { $_.Trim() } | Where-Object { $_ }) }
    $sets = @(& $split $fields['parameter sets'])
    $bool = {
        param($name, $default)
        $v = if ($fields.ContainsKey($name)) { $fields[$name] } else { '' }
        if ($v -match '^(true|false)$') { return $v.ToLowerInvariant() }
        if ($v.Length -eq 0) { return $default }
        throw "${Where}: '$name' is '$v'; expected True or False."
    }
    $position = $fields['position']
    if ($position -match '^named$') { $position = 'named' }
    elseif ($position -notmatch '^\d+$') { throw "${Where}: Position is '$position'; expected Named or a number." }
    $pipeline = if ($fields.ContainsKey('accept pipeline input') -and $fields['accept pipeline input']) { $fields['accept pipeline input'] } else { 'False' }
    $default = if ($fields.ContainsKey('default value') -and $fields['default value']) { $fields['default value'] } else { 'None' }
    return [pscustomobject]@{
        Type           = $fields['type']
        Sets           = @(if ($sets.Count -eq 0) { $AllSets } else { $sets })
        Aliases        = @(if ($fields.ContainsKey('aliases')) { & $split $fields['aliases'] })
        AcceptedValues = @(if ($fields.ContainsKey('accepted values')) { & $split $fields['accepted values'] })
        Required       = & $bool 'required' 'false'
        Position       = $position
        DefaultValue   = $default
        PipelineInput  = $pipeline
        Globbing       = & $bool 'accept wildcard characters' 'false'
    }
}

function Get-SyntaxParameterNames {
    # The parameter names of one syntax line, in order: "[-Name]", "[-Name <T>]", "-Name <T>", "[[-Name] <T>]".
    param([string] $Syntax)
    $names = [Collections.Generic.List[string]]::new()
    foreach ($m in [regex]::Matches($Syntax, '(?<=^|[\s\[])-([A-Za-z_][\w]*)')) {
        if (-not $names.Contains($m.Groups[1].Value)) { $names.Add($m.Groups[1].Value) }
    }
    return , $names
}

function ConvertTo-CommandModel {
    param($Page, [string] $HelpFileName)

    $file = $Page.File
    $split = Split-Sections $Page
    if ($null -eq $split.Title) { throw "${file}: no '# Verb-Noun' title." }
    $name = $split.Title.Text.Trim()
    $sections = $split.Sections
    $verb, $noun = if ($name -match '^([^-]+)-(.+)$') { $Matches[1], $Matches[2] } else { $name, '' }

    $external = $Page.FrontMatter['external help file']
    if ($external -and $HelpFileName -and $external -ne $HelpFileName) {
        Write-Warning "${file}: 'external help file' is '$external', but this converter writes '$HelpFileName'; the page is included anyway."
    }
    foreach ($s in 'SYNOPSIS', 'SYNTAX', 'DESCRIPTION', 'EXAMPLES', 'PARAMETERS') {
        if (-not $sections.Contains($s)) { Write-Warning "${file}: no '## $s' section." }
    }
    $section = { param($s) if ($sections.Contains($s)) { , $sections[$s] } else { , @() } }

    # Syntax: one code block per parameter set, optionally under "### SetName (Default)".
    $syntax = [Collections.Generic.List[object]]::new()
    foreach ($g in (Split-Subsections (& $section 'SYNTAX'))) {
        $setName = ($g.Title -replace '\s*\(Default\)\s*$', '').Trim()
        foreach ($code in @($g.Blocks | Where-Object Kind -EQ 'Code')) {
            $text = ($code.Text -split "`n" | ForEach-Object Trim) -join ' '
            if ($text.Trim().Length -eq 0) { continue }
            $syntax.Add([pscustomobject]@{
                    Set        = if ($setName) { $setName } else { $AllSets }
                    Parameters = Get-SyntaxParameterNames $text
                    Line       = $code.Line
                })
        }
    }

    # Parameters: "### -Name", description paragraphs, one or more yaml blocks.
    $parameters = [ordered]@{}
    foreach ($g in (Split-Subsections (& $section 'PARAMETERS'))) {
        if ($g.Title -eq '' -or $g.Title -match '^CommonParameters$') { continue }
        if ($g.Title -notmatch '^-([A-Za-z_][\w]*)$') { throw "${file}:$($g.Line): '### $($g.Title)' is not a parameter heading ('### -Name')." }
        $pname = $Matches[1]
        $description = @($g.Blocks | Where-Object { $_.Kind -eq 'Para' -or ($_.Kind -eq 'Code' -and $_.Lang -notmatch '^ya?ml$') } | ForEach-Object Text)
        $yaml = @($g.Blocks | Where-Object { $_.Kind -eq 'Code' -and $_.Lang -match '^ya?ml$' })
        if ($yaml.Count -eq 0) { throw "${file}:$($g.Line): the parameter -$pname has no ``````yaml block." }
        $variants = @($yaml | ForEach-Object { ConvertFrom-ParameterYaml $_.Text "${file}:$($_.Line) (-$pname)" })
        if ($parameters.Contains($pname)) { throw "${file}:$($g.Line): -$pname is documented twice." }
        if ($description.Count -eq 0) { Write-Warning "${file}:$($g.Line): the parameter -$pname has no description." }
        $parameters[$pname] = [pscustomobject]@{ Name = $pname; Description = $description; Variants = $variants }
    }

    # Every parameter of a syntax line must be documented, and every documented set must have a syntax line.
    foreach ($s in $syntax) {
        foreach ($p in $s.Parameters) {
            if (-not $parameters.Contains($p)) { throw "${file}:$($s.Line): the syntax names -$p, which '## PARAMETERS' does not document." }
        }
    }

    $examples = [Collections.Generic.List[object]]::new()
    foreach ($g in (Split-Subsections (& $section 'EXAMPLES'))) {
        if ($g.Title -eq '') { continue }
        # As PlatyPS: the code is what can be pasted (the powershell blocks); sample output (an Output or text block)
        # goes to the remarks with the paragraphs, in page order, so Get-Help -Examples never mixes a table into the code.
        $isOutput = { param($b) $b.Kind -eq 'Code' -and $b.Lang -match '^(output|text|console)$' }
        $code = @($g.Blocks | Where-Object { $_.Kind -eq 'Code' -and -not (& $isOutput $_) } | ForEach-Object Text) -join "`n`n"
        $remarks = @($g.Blocks | Where-Object { $_.Kind -eq 'Para' -or (& $isOutput $_) } | ForEach-Object Text)
        if ($code.Trim().Length -eq 0) { Write-Warning "${file}:$($g.Line): the example '$($g.Title)' has no code." }
        $examples.Add([pscustomobject]@{ Title = $g.Title; Code = $code; Remarks = $remarks })
    }

    $types = {
        param($blocks)
        foreach ($g in (Split-Subsections $blocks)) {
            $desc = @(Get-Paragraphs $g.Blocks)
            if ($g.Title -ne '') { [pscustomobject]@{ Type = $g.Title; Description = $desc } }
            elseif ($desc.Count -gt 0) { [pscustomobject]@{ Type = $desc[0]; Description = @($desc | Select-Object -Skip 1) } }
        }
    }

    $links = [Collections.Generic.List[object]]::new()
    $online = $Page.FrontMatter['online version']
    if ($online) { $links.Add([pscustomobject]@{ Text = 'Online Version:'; Uri = $online }) }
    foreach ($b in (& $section 'RELATED LINKS')) {
        if ($b.Kind -ne 'Para') { continue }
        # One link per line: [text](uri), or plain text. A relative uri (another page) is not a help address.
        foreach ($item in $b.Lines) {
            $item = $item.Trim() -replace '^([-*+]|\d+[.)])\s+', ''
            if ($item.Length -eq 0) { continue }
            if ($item -match '^\[([^\]]*)\]\(\s*<?([^)\s>]*)>?[^)]*\)$') {
                $text, $uri = $Matches[1], $Matches[2]
                if ($uri -notmatch '^[a-z][a-z0-9+.-]*://') { $uri = '' }
                $links.Add([pscustomobject]@{ Text = $text; Uri = $uri })
            }
            else { $links.Add([pscustomobject]@{ Text = (ConvertTo-InlineText $item); Uri = '' }) }
        }
    }

    return [pscustomobject]@{
        Name        = $name
        Verb        = $verb
        Noun        = $noun
        Synopsis    = @(Get-Paragraphs (& $section 'SYNOPSIS'))
        Description = @(Get-Paragraphs (& $section 'DESCRIPTION'))
        Syntax      = $syntax
        Parameters  = $parameters
        Examples    = $examples
        Inputs      = @(& $types (& $section 'INPUTS'))
        Outputs     = @(& $types (& $section 'OUTPUTS'))
        Notes       = @(Get-Paragraphs (& $section 'NOTES'))
        Links       = $links
    }
}

function Get-VariantForSet {
    # The yaml block of a parameter that applies to a parameter set.
    param($Parameter, [string] $Set)
    $exact = @($Parameter.Variants | Where-Object { $_.Sets -contains $Set })
    if ($exact.Count -gt 0) { return $exact[0] }
    $all = @($Parameter.Variants | Where-Object { $_.Sets -contains $AllSets })
    if ($all.Count -gt 0) { return $all[0] }
    return $Parameter.Variants[0]
}

# ---------------------------------------------------------------------------------------------------------
# MAML
# ---------------------------------------------------------------------------------------------------------

function Write-Paras {
    param([System.Xml.XmlWriter] $W, [string[]] $Paragraphs)
    $W.WriteStartElement('maml', 'description', $NsMaml)
    $any = $false
    foreach ($p in $Paragraphs) {
        if ($null -eq $p -or $p.Trim().Length -eq 0) { continue }
        $W.WriteElementString('maml', 'para', $NsMaml, $p)
        $any = $true
    }
    if (-not $any) { $W.WriteElementString('maml', 'para', $NsMaml, '') }
    $W.WriteEndElement()
}

function Write-Parameter {
    param([System.Xml.XmlWriter] $W, $Parameter, $Variant, [bool] $InSyntax)
    $isSwitch = $Variant.Type -match '^(System\.Management\.Automation\.)?SwitchParameter$'
    $W.WriteStartElement('command', 'parameter', $NsCommand)
    $W.WriteAttributeString('required', $Variant.Required)
    $W.WriteAttributeString('variableLength', 'true')
    $W.WriteAttributeString('globbing', $Variant.Globbing)
    $W.WriteAttributeString('pipelineInput', $Variant.PipelineInput)
    $W.WriteAttributeString('position', $Variant.Position)
    $W.WriteAttributeString('aliases', $(if ($Variant.Aliases.Count -gt 0) { $Variant.Aliases -join ', ' } else { 'none' }))
    $W.WriteElementString('maml', 'name', $NsMaml, $Parameter.Name)
    Write-Paras $W $Parameter.Description
    if ($Variant.AcceptedValues.Count -gt 0) {
        $W.WriteStartElement('command', 'parameterValueGroup', $NsCommand)
        foreach ($v in $Variant.AcceptedValues) {
            $W.WriteStartElement('command', 'parameterValue', $NsCommand)
            $W.WriteAttributeString('required', 'false')
            $W.WriteAttributeString('command', 'variableLength', $NsCommand, 'false')
            $W.WriteString($v)
            $W.WriteEndElement()
        }
        $W.WriteEndElement()
    }
    # A switch takes no value: in a syntax line it is just "[-Name]".
    if (-not ($isSwitch -and $InSyntax)) {
        $W.WriteStartElement('command', 'parameterValue', $NsCommand)
        $W.WriteAttributeString('required', $(if ($isSwitch) { 'false' } else { 'true' }))
        $W.WriteAttributeString('variableLength', 'false')
        $W.WriteString($Variant.Type)
        $W.WriteEndElement()
    }
    $W.WriteStartElement('dev', 'type', $NsDev)
    $W.WriteElementString('maml', 'name', $NsMaml, $Variant.Type)
    $W.WriteElementString('maml', 'uri', $NsMaml, '')
    $W.WriteEndElement()
    $W.WriteElementString('dev', 'defaultValue', $NsDev, $Variant.DefaultValue)
    $W.WriteEndElement()
}

function Write-TypeList {
    param([System.Xml.XmlWriter] $W, [string] $ListName, [string] $ItemName, $Items)
    $W.WriteStartElement('command', $ListName, $NsCommand)
    foreach ($t in $Items) {
        $W.WriteStartElement('command', $ItemName, $NsCommand)
        $W.WriteStartElement('dev', 'type', $NsDev)
        $W.WriteElementString('maml', 'name', $NsMaml, $t.Type)
        $W.WriteEndElement()
        Write-Paras $W $t.Description
        $W.WriteEndElement()
    }
    $W.WriteEndElement()
}

function Write-Command {
    param([System.Xml.XmlWriter] $W, $Model)

    $W.WriteStartElement('command', 'command', $NsCommand)
    $W.WriteAttributeString('xmlns', 'maml', $null, $NsMaml)
    $W.WriteAttributeString('xmlns', 'command', $null, $NsCommand)
    $W.WriteAttributeString('xmlns', 'dev', $null, $NsDev)
    $W.WriteAttributeString('xmlns', 'MSHelp', $null, $NsMSHelp)

    $W.WriteStartElement('command', 'details', $NsCommand)
    $W.WriteElementString('command', 'name', $NsCommand, $Model.Name)
    $W.WriteElementString('command', 'verb', $NsCommand, $Model.Verb)
    $W.WriteElementString('command', 'noun', $NsCommand, $Model.Noun)
    Write-Paras $W $Model.Synopsis
    $W.WriteEndElement()

    Write-Paras $W $Model.Description

    $W.WriteStartElement('command', 'syntax', $NsCommand)
    foreach ($s in $Model.Syntax) {
        $W.WriteStartElement('command', 'syntaxItem', $NsCommand)
        $W.WriteElementString('maml', 'name', $NsMaml, $Model.Name)
        foreach ($pname in $s.Parameters) {
            $p = $Model.Parameters[$pname]
            Write-Parameter $W $p (Get-VariantForSet $p $s.Set) $true
        }
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteStartElement('command', 'parameters', $NsCommand)
    foreach ($p in $Model.Parameters.Values) {
        # The first yaml block describes the parameter in the parameters list (as PlatyPS does).
        Write-Parameter $W $p $p.Variants[0] $false
    }
    $W.WriteEndElement()

    Write-TypeList $W 'inputTypes' 'inputType' $Model.Inputs
    Write-TypeList $W 'returnValues' 'returnValue' $Model.Outputs

    $W.WriteStartElement('maml', 'alertSet', $NsMaml)
    $W.WriteStartElement('maml', 'alert', $NsMaml)
    $notes = @($Model.Notes | Where-Object { $_ })
    if ($notes.Count -eq 0) { $notes = @('') }
    foreach ($n in $notes) { $W.WriteElementString('maml', 'para', $NsMaml, $n) }
    $W.WriteEndElement()
    $W.WriteEndElement()

    $W.WriteStartElement('command', 'examples', $NsCommand)
    foreach ($e in $Model.Examples) {
        $W.WriteStartElement('command', 'example', $NsCommand)
        $dashes = '-' * [Math]::Max(2, [int][Math]::Floor((64 - $e.Title.Length - 2) / 2))
        $W.WriteElementString('maml', 'title', $NsMaml, "$dashes $($e.Title) $dashes")
        $W.WriteElementString('dev', 'code', $NsDev, $e.Code)
        $W.WriteStartElement('dev', 'remarks', $NsDev)
        foreach ($r in $e.Remarks) { $W.WriteElementString('maml', 'para', $NsMaml, $r) }
        # An empty last para puts a blank line between one example and the next title.
        $W.WriteElementString('maml', 'para', $NsMaml, '')
        $W.WriteEndElement()
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteStartElement('command', 'relatedLinks', $NsCommand)
    foreach ($l in $Model.Links) {
        $W.WriteStartElement('maml', 'navigationLink', $NsMaml)
        $W.WriteElementString('maml', 'linkText', $NsMaml, $l.Text)
        $W.WriteElementString('maml', 'uri', $NsMaml, $l.Uri)
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteEndElement() # command:command
}

# ---------------------------------------------------------------------------------------------------------

$source = (Resolve-Path -LiteralPath $SourceFolder).ProviderPath
$output = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($OutputPath)
$helpFileName = Split-Path -Leaf $output

$models = foreach ($file in Get-ChildItem -LiteralPath $source -Filter '*.md' -File | Sort-Object Name) {
    if ($file.BaseName -like 'about_*') { continue }
    $page = Read-MarkdownPage $file.FullName
    $sections = (Split-Sections $page).Sections
    if (-not $sections.Contains('SYNOPSIS')) {
        Write-Verbose "Skipped '$($file.Name)': not a cmdlet page (no '## SYNOPSIS')."
        continue
    }
    $model = ConvertTo-CommandModel $page $helpFileName
    if ($model.Name -ne $file.BaseName) { Write-Warning "$($file.FullName): the title is '$($model.Name)', but the file is named '$($file.Name)'." }
    $model
}
$models = @($models)
$duplicates = @($models | Group-Object Name | Where-Object Count -GT 1)
if ($duplicates.Count -gt 0) { throw "More than one page documents: $($duplicates.Name -join ', ')." }

$folder = Split-Path -Parent $output
if ($folder) { New-Item -ItemType Directory -Force -Path $folder | Out-Null }

$settings = [System.Xml.XmlWriterSettings]::new()
$settings.Encoding = [System.Text.UTF8Encoding]::new($false)
$settings.Indent = $true
$settings.IndentChars = '  '
$settings.NewLineChars = "`n"
$settings.NewLineHandling = [System.Xml.NewLineHandling]::Replace

$writer = [System.Xml.XmlWriter]::Create($output, $settings)
try {
    $writer.WriteStartDocument()
    $writer.WriteStartElement('helpItems', 'http://msh')
    $writer.WriteAttributeString('schema', 'maml')
    foreach ($m in $models) { Write-Command $writer $m }
    $writer.WriteEndElement()
    $writer.WriteEndDocument()
}
finally {
    $writer.Dispose()
}
Write-Verbose "Wrote help for $($models.Count) command(s) to '$output'."
