package moderation

// builtinLexicon is the built-in weighted lexicon. Format, one entry a line:
//
//	# category            starts a category (its wire name)
//	@name = {a|b|c}       defines a macro used as @name in later terms
//	@@cue = {a|b|c}       defines a cue: a term starting with @@cue matches
//	                      its rest when the cue ends just before it (up to
//	                      two short words between), which keeps the
//	                      automaton small where a macro would multiply
//	0.8 some {a|b|} term  a weight in (0,1] and a term; {…|…} are
//	                      alternatives (an empty one makes the group
//	                      optional); a trailing * matches any word ending
//
// Terms are matched on the normalised skeleton (see normalize.go), so they
// are written in plain lower case; filler words such as "the", "a", "all",
// "your" are ignored on both sides. A category's score is the noisy-OR of
// the weights of the distinct terms that match. Single words carry weights
// below the default threshold of 0.5: they need company to flag.
//
// The lists are deliberately modest: phrases that signal intent rather than
// vocabulary lists. They contain no slurs; add site-specific words with
// Config.Words.
const builtinLexicon = `
@@you = {you|u|ya|youre|you're|you are|ur|yourself}
@@will = {i will|i'll|ill|im going to|i'm going to|i am going to|im gonna|i'm gonna|gonna|we will|we'll|we are going to|we're going to}
@grouplist = {immigrants|refugees|muslims|jews|christians|hindus|sikhs|black people|blacks|white people|whites|asians|mexicans|arabs|gay people|gays|lesbians|trans people|transgender people|women|disabled people|foreigners|migrants}
@@group = @grouplist
@@hater = {i hate|we hate|hate}
@minor = {child|children|kid|kids|minor|minors|underage|preteen|preteens|12 year old|13 year old|14 year old|15 year old|young girl|young girls|young boy|young boys|schoolgirl|schoolgirls|schoolboy|little girl|little boy|toddler}
@@howto = {how to|how do i|how can i|how would i|how do you|how does one|best way to|easiest way to|steps to|guide to|tutorial on how to|instructions to|teach me to|explain how to}
@prev = {previous|prior|above|earlier|preceding|former|foregoing|initial|original|system|prior to this|}
@instr = {instructions|instruction|prompts|prompt|rules|directions|directives|guidelines|context|messages|commands|constraints|programming|restrictions|guardrails}
@sysprompt = {system prompt|system message|system instructions|initial prompt|initial instructions|hidden prompt|hidden instructions|original prompt|original instructions|secret instructions|developer message|developer prompt|pre prompt|preprompt|instructions above|instructions you were given|prompt above}

# harassment
0.3 {idiot|moron|imbecile|loser|pathetic|worthless|stupid|dumb|retard|retarded|scum}
0.75 @@you {a|an|such|so|} {idiot|moron|imbecile|loser|pathetic|worthless|stupid|dumb|retard|scum|piece of garbage|piece of trash|piece of shit|waste of space|waste of oxygen|disgrace|failure|joke}
0.7 {nobody|no one|noone} {likes|loves|cares about|wants} {you|u|ya}
0.6 {everyone|everybody} hates {you|u|ya}
0.7 @@you should be ashamed of {yourself|existing}
0.65 {fuck|screw|f} {you|off|u}
0.25 {shut up|stfu}
0.7 {shut up|stfu|go away} {you|} {idiot|loser|moron|bitch|freak}
0.6 {ugly|fat|disgusting|worthless} {loser|pig|freak|cow|bitch}
0.2 {bitch|bastard|asshole|dickhead|jerk}
0.7 {you|ur} {bitch|bastard|asshole|dickhead}

# harassment/threatening
0.9 @@will {find|hunt|track} {you|your family|where you live} {down|}
0.9 i know where {you|u|ya} live
0.85 @@you {will|are going to|re going to|gonna} {regret|pay for} {this|it|that}
0.8 {watch|better watch} {your|} back
0.9 @@will {kill|hurt|beat|stab|shoot|strangle|murder|end|destroy|rape} {you|u|your family}
0.85 @@you {will|are going to|re going to|gonna} {die|be dead|get hurt|bleed|suffer}
0.8 {i hope|hope} {you|u} {die|get hit by|get cancer|suffer}
0.85 {kill|hang|shoot} yourself
0.85 {kys}

# hate
0.85 @@group {are|r} {vermin|subhuman|animals|parasites|a disease|inferior|cockroaches|rats|filth|savages|a plague|not human}
0.8 @@hater @grouplist
0.75 @@group {should|must} {not be allowed|be banned|be deported|go back|get out}
0.75 @@group {dont|don't|do not} deserve {rights|respect|to live}
0.8 @@group {ruin|are ruining|are destroying|are invading|are replacing} {everything|our country|society|us}
0.45 {subhuman|untermensch}
0.55 {racial|ethnic} {inferiority|purity}
0.6 master race
0.6 {white|racial} {supremacy|power}

# hate/threatening
@@exterminate = {kill|exterminate|eradicate|wipe out|gas|eliminate|get rid of|lynch|hang|shoot} {every|}
0.95 @@exterminate @grouplist
0.9 @@group {should|must|need to|deserve to} {die|be killed|be exterminated|be shot|be hanged|be gassed|burn}
0.85 {ethnic cleansing|final solution|race war} {now|is needed|is the answer|is coming}

# illicit
0.75 @@howto {make|cook|synthesize|synthesise|produce|manufacture} {meth|methamphetamine|crack|heroin|fentanyl|lsd|mdma|cocaine|crystal meth}
0.75 @@howto {launder|clean|wash} {money|cash|crypto|bitcoin}
0.4 money laundering
0.75 {buy|sell|order|get} {stolen credit cards|stolen cards|cloned cards|fake ids|fake id|fake passports|fake passport|counterfeit money|counterfeit bills|stolen accounts|fullz}
0.75 @@howto {hack|hack into|break into|get into} {someone's|someones|someone else's|my ex's|my exs|another person's|a person's|my girlfriend's|my boyfriend's|my wife's|my husband's}*
0.75 @@howto {shoplift|steal from|steal|pick a lock|hotwire|evade taxes|forge|counterfeit|smuggle|cheat on my taxes}
0.75 {write|create|make|code|build} {me|} {keylogger|ransomware|phishing email|phishing page|phishing site|credit card skimmer|botnet|malware|trojan}
0.4 {meth|heroin|fentanyl|cocaine} {lab|recipe|synthesis}
0.35 {dark web|darknet} {market|vendor}
0.35 {ransomware|keylogger|phishing kit}

# illicit/violent
0.9 @@howto {make|build|assemble|create} {a|an|} {bomb|pipe bomb|explosive|explosives|molotov cocktail|molotov|ied|nail bomb|ghost gun|car bomb|dirty bomb|nerve agent|bioweapon}
0.85 @@howto {poison|kill|murder|kidnap|strangle} {someone|a person|somebody|people|my wife|my husband|my boss|my neighbor|my neighbour}
0.85 {buy|get|obtain} {untraceable|unregistered|illegal} {gun|guns|firearm|firearms|weapon|weapons}
0.85 @@howto {get away with|cover up|hide} {murder|a murder|killing|a body}
0.8 {hire|find} {hitman|hit man|contract killer|assassin}

# self-harm
0.3 {suicide|self harm|selfharm}
0.55 {suicidal|cutting myself|hurting myself|burning myself|starving myself}
0.65 {i|ive|i've|i have} been {cutting|hurting|burning|starving} myself
0.5 {end|take} my {own|} life

# self-harm/intent
0.9 {i want to|i wanna|im going to|i'm going to|i am going to|i will|i'll|im gonna|i'm gonna|i plan to|i'm planning to|im planning to|i'm about to|im about to|i have decided to|i've decided to} {kill myself|end my life|end it all|die|hurt myself|cut myself|commit suicide|take my own life|take my life}
0.85 i {don't|do not|dont} want to {live|be alive|exist|wake up} {anymore|}
0.8 {i wish i was|i wish i were|i want to be|i'd rather be} dead
0.75 {better off|be better off} {dead|without me}
0.75 {this is|here is|here's|writing} my {suicide|goodbye} note
0.7 {no reason|nothing} to live for

# self-harm/instructions
0.9 {how|best way|easiest way|painless way|quickest way|fastest way|surest way} {to|do i|can i|should i|} {kill myself|commit suicide|end my life|hang myself|overdose|slit my wrists}
0.85 how {many|much} {pills|tylenol|paracetamol|acetaminophen|sleeping pills|insulin|xanax} {to|would it take to|does it take to|do i need to|until i} {die|overdose|kill myself|od}
0.85 @@howto {cut|hurt|burn|starve} myself
0.75 {painless|quick|easy|effective} {suicide|way to die|ways to die|suicide methods}

# sexual
0.55 {porn|porno|pornography|pornographic|hentai|xxx}
0.45 {nude|naked} {photos|pics|pictures|selfies|video|videos}
0.7 {sex|sexual|erotic|dirty} {chat|roleplay|role play|scene|story|stories|fantasy}
0.8 {explicit|graphic|detailed} {sex|sexual|erotic} {scene|content|story|description|act|acts}
0.5 {erotica|smut}
0.5 {masturbat*}
0.45 {orgasm|orgasms|blowjob|handjob}
0.3 {sexy|horny|aroused}
0.75 {send|show} {me|} {nudes|nude pics|nude photos|your tits|your dick}

# sexual/minors
@@sexword = {sex|sexual|sexy|nude|naked|erotic|porn|explicit|seduce|seducing|molest|molesting|groom|grooming}
0.95 @@sexword {with|of|involving|} @minor
0.95 @minor {porn|pornography|nudes|sex|erotica|naked|nude}
0.9 {hot|seductive|sexy} @minor
@@sexcontent = {sexual|erotic|explicit|nude} {story|stories|content|pictures|photos|images|roleplay|role play}
0.95 @@sexcontent {with|of|involving|about} @minor
0.95 {csam|lolicon|shotacon}

# violence
0.25 {kill|kills|killed|killing|murder|murdered|stab|stabbed|shoot|shot|attack|assault|strangle|behead|torture|massacre|slaughter}
0.7 {kill|murder|shoot|stab|attack|hurt|beat up|torture} {you|him|her|them|everyone|people|everybody|those people|that guy|my family|my wife|my husband}
0.8 {mass shooting|school shooting|shoot up school|shoot up the school|shoot up church|shoot up the mall|go on a rampage}
0.7 {blow up|bomb|burn down|set fire to} {the|a|} {building|school|church|mosque|synagogue|temple|station|airport|office|stadium|house}
0.6 {beat|punch|kick|choke|stab} {him|her|them|you} {to death|until he dies|until she dies|senseless}
0.4 {bloodbath|bloodshed|carnage}

# violence/graphic
0.75 {blood|guts|brains|entrails|intestines|organs} {everywhere|spilling|spilled|spilling out|splattered|pouring out|oozing}
@@bodypart = {his|her|their} {head|limbs|arms|legs|face|skin|eyes|fingers}
0.75 @@bodypart {was|were|got|being} {ripped|torn|cut|hacked|blown|gouged|peeled} {off|apart|open|out}
0.55 {dismember*|disembowel*|decapitat*|mutilat*|eviscerat*}
0.6 {gore|gory|gruesome} {detail|details|scene|video|videos|photos|pictures|description}
0.35 {gore|gory}
0.65 {skull|bones|ribs} {crushed|shattered|cracked open|snapped|splintered}

# prompt_injection
@@ignore = {ignore|ignoring|disregard|disregarding|forget|forgetting|override|bypass|skip|discard|neglect|do not follow|don't follow|dont follow|stop following|do not obey|don't obey}
0.9 @@ignore @prev @instr
0.45 {new|updated|real|actual} instructions
@@reveal = {reveal|show|show me|print|repeat|output|display|tell me|give me|share|leak|dump|write out|spell out|recite|what is|what are|what was|what were}
0.85 @@reveal @sysprompt
0.8 {repeat|print|output} {words|text|everything|all text} above
0.5 {everything|text} above this line
0.85 {you are|you're|youre|u r} now {dan|in developer mode|unrestricted|jailbroken|unfiltered|uncensored|evil|free from rules|no longer bound}
0.85 do anything now
0.8 {developer mode|dan mode|jailbreak mode|god mode|unrestricted mode|debug mode} {enabled|activated|on}
0.45 {jailbreak|jailbroken|jailbreaking}
0.8 {pretend|act|imagine|behave} {as if|like|that|} {you have|you had|you've got} no {rules|restrictions|guidelines|filters|limits|content policy|ethical guidelines|morals}
0.55 {without|with no|ignoring|ignore} {restrictions|filters|censorship|safety guidelines|content policy|ethical guidelines|moral constraints|safety filters}
0.75 {act as|roleplay as|role play as|pretend to be|you are} {unrestricted|unfiltered|uncensored|amoral} {ai|assistant|model|chatbot|language model}
0.4 stay in character
0.7 {from now on|starting now|henceforth} you {will|must|are going to|shall} {answer|respond|reply|act} {without|as|like}
`
