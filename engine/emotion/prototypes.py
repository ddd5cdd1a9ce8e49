"""Prototype descriptions per emotion, Chinese and English: what the text model compares a description
(or a line of dialogue) against. Two kinds per emotion: how someone *says* it (delivery descriptions,
as editors write them) and what someone *says* in that state (lines, for emotion from the line itself).
Kept apart from tests/data/emotion_descriptions.tsv, the labelled set the accuracy is measured on."""
from __future__ import annotations

PROTOTYPES: dict[str, dict[str, tuple[str, ...]]] = {
    "happy": {
        "en": ("happily", "cheerfully, with a big smile", "joyful and excited", "delighted, laughing with joy",
               "in a bright, upbeat voice", "glad and warm", "grinning, full of delight", "thrilled and elated",
               "This is the best day ever!", "I'm so happy for you!", "We did it, we actually did it!"),
        "zh": ("开心地说", "高兴地笑着说", "兴高采烈，语气欢快", "喜悦而兴奋", "愉快轻松的语气", "满心欢喜",
               "笑容满面地说", "眉开眼笑", "喜气洋洋地说", "太好了，我们成功了！", "我真为你高兴！", "今天真是最棒的一天！"),
    },
    "angry": {
        "en": ("angrily", "furious, shouting", "in a rage, yelling", "irritated and annoyed, snapping",
               "harsh and aggressive", "outraged, demanding an answer", "mad and hostile", "livid, through clenched teeth",
               "How dare you do this to me!", "Get out of my house right now!", "I told you a hundred times!"),
        "zh": ("愤怒地质问", "生气地吼道", "怒气冲冲，大声斥责", "恼火地说，语气急促", "暴跳如雷", "气愤地责骂",
               "语气凶狠，咄咄逼人", "怒不可遏", "大发雷霆", "气急败坏地骂", "你怎么敢这样对我！", "马上给我滚出去！", "我跟你说过多少遍了！"),
    },
    "sad": {
        "en": ("sadly", "in tears, sobbing", "sorrowful and heartbroken", "grieving, voice breaking",
               "unhappy and hurt", "crying softly", "mournful", "choked up with grief",
               "I miss her so much.", "He's gone, and he's never coming back.", "I'm so sorry, I lost everything."),
        "zh": ("悲伤地说", "伤心地哭着说", "难过得声音发抖", "哽咽着说", "心碎而痛苦", "痛哭流涕", "泪流满面", "含着眼泪低声说", "悲痛欲绝",
               "我好想她。", "他走了，再也不会回来了。", "对不起，我什么都没有了。"),
    },
    "afraid": {
        "en": ("fearfully", "terrified, trembling", "scared and panicked", "frightened, whispering in fear",
               "anxious and nervous", "in a shaky, frightened voice", "horrified, in panic", "jumpy and uneasy",
               "Please, don't hurt me!", "Did you hear that? Someone is in the house.", "Help! Somebody help me!"),
        "zh": ("害怕地说", "恐惧地颤抖着", "惊恐万分，声音发抖", "紧张不安", "吓得要命", "惊慌失措地喊",
               "战战兢兢地低声说", "心惊肉跳", "毛骨悚然", "慌张地说", "求求你，别伤害我！", "你听到了吗？屋里有人。", "救命！快来人啊！"),
    },
    "disgusted": {
        "en": ("with disgust", "disgusted and repelled", "contemptuously, sneering", "scornful, looking down on them",
               "revolted, grossed out", "with distaste and contempt", "sneering with disdain", "appalled and nauseated",
               "Ugh, that's revolting.", "You make me sick.", "Don't touch me with those filthy hands."),
        "zh": ("厌恶地说", "嫌弃地撇嘴", "轻蔑地冷笑", "鄙视地说，带着不屑", "恶心得想吐", "反感而嫌恶", "不屑一顾地说", "嗤之以鼻", "冷嘲热讽",
               "真恶心，快拿走。", "你真让我恶心。", "别用你的脏手碰我。"),
    },
    "melancholic": {
        "en": ("melancholy", "wistful and nostalgic", "gloomy, low-spirited", "depressed and listless",
               "in a quiet, resigned voice", "dejected, lost in thought", "downcast and weary", "pensive and sorrowful, longing for the past",
               "Those summers feel so far away now.", "Nothing really matters anymore.",
               "I used to sit here with my father."),
        "zh": ("忧郁地说", "惆怅地回忆", "情绪低落，无精打采", "沮丧而消沉", "淡淡的哀愁", "落寞地叹气", "心灰意冷", "闷闷不乐", "愁眉苦脸", "意志消沉",
               "那些夏天好像已经很遥远了。", "一切都没什么意义了。", "以前我常和父亲坐在这里。"),
    },
    "surprised": {
        "en": ("surprised", "astonished, in disbelief", "amazed and shocked", "startled, caught off guard",
               "stunned, with wide eyes", "in sudden surprise", "incredulous", "taken aback",
               "What? You're here?", "No way! Really?", "I can't believe it, you actually came!"),
        "zh": ("惊讶地说", "吃惊地问", "震惊，难以置信", "大吃一惊", "意外而惊奇", "目瞪口呆", "不敢相信地喊", "大惊失色", "出乎意料",
               "什么？你怎么在这儿？", "不会吧！真的吗？", "天哪，你居然来了！"),
    },
    "calm": {
        "en": ("calmly", "neutral, matter-of-fact", "in a relaxed, even tone", "peaceful and composed",
               "plainly, without emotion", "steady and measured", "serene", "unhurried and level",
               "The meeting is at three o'clock.", "Please take a seat.", "Turn left at the second corner."),
        "zh": ("平静地说", "语气平淡", "冷静而从容", "心平气和地说", "不带感情地陈述", "语调平稳", "淡定自若", "慢条斯理地说", "语气温和平稳",
               "会议在三点开始。", "请坐。", "在第二个路口左转。"),
    },
}

# Intensity words: scale the emotion. Checked longest first; the first that occurs wins.
INTENSITY_WORDS: dict[float, tuple[str, ...]] = {
    0.3: ("slightly", "a little", "a bit", "a touch", "mildly", "somewhat", "faintly", "有点", "有一点", "稍微",
          "略微", "略带", "微微", "些许", "一丝"),
    0.6: ("rather", "fairly", "moderately", "quite", "比较", "挺", "蛮", "颇为"),
    1.0: ("extremely", "very", "really", "so ", "incredibly", "utterly", "deeply", "terribly", "absolutely",
          "totally", "highly", "非常", "极其", "十分", "特别", "极度", "万分", "无比", "太", "超级",
          "彻底", "完全"),
}
DEFAULT_INTENSITY = 0.8

# Keyword evidence: a description that names the emotion ("angrily", "惊讶地") is strong evidence the
# embedding alone can miss. English stems match at a word start; the Chinese names and aliases come
# from presets.ALIASES and match anywhere.
STEMS: dict[str, tuple[str, ...]] = {
    "happy": ("happ", "joy", "cheer", "delight"), "angry": ("angr", "anger", "rage", "furious", "irritat"),
    "sad": ("sad", "sorrow", "tearful", "grief"),
    "afraid": ("fear", "afraid", "scare", "terrif", "fright", "panic", "nervous"),
    "disgusted": ("disgust", "contempt", "scorn", "sneer", "repuls"),
    "melancholic": ("melanchol", "gloom", "wistful", "nostalg"),
    "surprised": ("surpris", "astonish", "amaz", "shock"), "calm": ("calm", "neutral", "relax"),
}
